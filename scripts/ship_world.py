"""Ship a trained world folder: copy it (VAE, DiT, start bank, move gate) where it is played, with
how it is dreamed (`model.world_export`; `--help` for the flags).

    python scripts/ship_world.py --world runs/heads72a/world --to worldenv/worlds/crafter72 \
        --move-gate runs/move_gate/move_gate.safetensors --start-sigma 0.3 --guidance 1.5

Also installed as `soraworld-ship-world`.
"""

from model.world_export import main

if __name__ == "__main__":
    main()
