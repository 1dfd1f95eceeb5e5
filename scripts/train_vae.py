"""Train the VideoVAE on a recordings folder (`model.vae_training`; `--help` for the flags).

    python scripts/train_vae.py --config configs/crafter72/vae_1_base.toml
    python scripts/train_vae.py --data data/crafter72 --out runs/vae --steps 20000
    torchrun --standalone --nproc_per_node=2 scripts/train_vae.py --config ...   # DDP

Also installed as `soraworld-train-vae`.
"""

from model.vae_training import main

if __name__ == "__main__":
    main()
