"""Train a world's MoveGate, which moves the game refuses (`model.move_gate_training`; `--help`).

    python scripts/train_move_gate.py --config configs/crafter72/move_gate.toml

Also installed as `soraworld-train-move-gate`.
"""

from model.move_gate_training import main

if __name__ == "__main__":
    main()
