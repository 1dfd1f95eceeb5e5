"""SoraWorld model: recordings, data, VAE, DiT, diffusion, rollout."""
