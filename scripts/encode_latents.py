"""Encode a recordings folder into a latent cache for DiT training (`model.latent_encoding`).

    python scripts/encode_latents.py --vae runs/vae72_rare/vae.safetensors --data data/crafter72 \
        --out data/crafter72_latents

The recordings' game plugin (`worldenv.games`) gives the action space the cache records.
"""

from worldenv.training_cli import encode_latents

if __name__ == "__main__":
    encode_latents()
