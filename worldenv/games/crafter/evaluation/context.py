"""Context use: how well the DiT draws the next frame from its context, against repeating the last one."""

from __future__ import annotations

import numpy as np
import torch

from model.rollout import WorldModel
from worldenv.games.crafter.env import PLAYER_MOVES


@torch.no_grad()
def context_use(world: WorldModel, clips, acts, k: int, seed: int, sigma: float = 1.0) -> dict:
    """How well the DiT draws the next frame from its context: from each clip's k real frames and
    the next frame at noise `sigma` (1 = pure noise, where sampling starts), its one-step estimate
    of the clean next latent, z - sigma * v. Mean squared error against the real next latent, and
    the same for repeating the last latent (a model that uses its context must beat it), split
    into moves (actions 1-4) and the rest."""
    b = len(clips)
    z = world.vae.encode_images(torch.as_tensor(clips[:, : k + 1]).flatten(0, 1)).unflatten(0, (b, k + 1)).float()
    noise = torch.randn(z[:, -1].shape, generator=torch.Generator().manual_seed(seed))
    zt = z.clone()
    zt[:, -1] = (1 - sigma) * z[:, -1] + sigma * noise
    s = torch.zeros(b, k + 1)
    s[:, -1] = sigma
    v, _ = world.dit(zt, s, torch.as_tensor(acts[:, : k + 1]))
    est = zt[:, -1] - sigma * v[:, -1].float()
    err = ((est - z[:, -1]) ** 2).mean((1, 2, 3)).numpy()
    repeat = ((z[:, -2] - z[:, -1]) ** 2).mean((1, 2, 3)).numpy()
    move = np.isin(np.asarray(acts)[:, k, 0], list(PLAYER_MOVES))

    def split(x):
        return {"all": float(x.mean()), "moves": float(x[move].mean()) if move.any() else None,
                "other": float(x[~move].mean()) if (~move).any() else None}

    return {"sigma": sigma, "windows": b, "model_mse": split(err), "repeat_last_mse": split(repeat)}
