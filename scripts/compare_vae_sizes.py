"""Compare VAEs trained at different frame sizes on the same held-out recordings
(`model.vae_sizes`; `--help` for the flags).

    python scripts/compare_vae_sizes.py --vae runs/vae_size_64x48/vae.safetensors \\
        runs/vae_size_96x72/vae.safetensors --data data/minetest_heldout --frames 1000 --batch 64 \\
        --threads 1 --json results/minetest/vae_size.json
"""

from model.vae_sizes import main

if __name__ == "__main__":
    main()
