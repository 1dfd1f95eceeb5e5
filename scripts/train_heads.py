"""Re-fit a world's heads on its frozen DiT and teach them which achievement unlocked
(`model.heads_training`; `--help` for the flags).

    python scripts/train_heads.py --config configs/crafter72/heads_4.toml

Also installed as `soraworld-train-heads`.
"""

from model.heads_training import main

if __name__ == "__main__":
    main()
