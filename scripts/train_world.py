"""Train the SpacetimeDiT world model on latent caches (`model.world_training`; `--help` for the flags).

    python scripts/train_world.py --config configs/<world>/dit_1_base.toml   # a stage of a world's recipe
    torchrun --standalone --nproc_per_node=2 scripts/train_world.py --config ... --out runs/world

`--view-moves game` asks the recordings' game plugin (`worldenv.games`) for the actions that move
the view and the rows that move: this script passes the plugins to the trainer, which names no game.
"""

from worldenv.training_cli import train_world

if __name__ == "__main__":
    train_world()
