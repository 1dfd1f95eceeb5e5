"""Fidelity by horizon, teacher-forced on the recorded actions: from real context frames, the
recorded actions are fed and k frames dreamed without a real frame seen again; frame k is compared
with the real frame k (PSNR, SSIM), next to repeating the last real frame and shifting it by the
camera's summed turn over the k steps, on the same windows. Each horizon is split by what the
step into the scored frame did (the camera turned, the player walked, neither).

Per-frame PSNR is capped at PSNR_CAP_DB before it is averaged: lossy video decodes a still view
as bit-identical frames, whose PSNR (148 dB for an MSE of 1e-10) would otherwise swamp the mean of
"repeat the last frame" wherever the player stood still."""

from __future__ import annotations

import numpy as np

from model.metrics import psnr, ssim
from model.rollout import DreamRollout
from worldenv.games.minetest.evaluation.baselines import camera_shift
from worldenv.games.minetest.evaluation.data import STEP_KINDS, camera_degrees, step_kinds

METHODS = ("model", "repeat_last", "camera_shift", "repeat_last_vae")
PSNR_CAP_DB = 60.0  # an MSE of 0.065: frames equal up to rounding


def dream_windows(world, clips, acts, lead, k: int, horizon: int, steps: int, seed: int, roll_kw: dict,
                  batch: int = 16) -> np.ndarray:
    """(n, horizon, H, W, 3): the dreams from each window's first k frames under its recorded actions
    (acts[:, k-1+j] leads to dream frame j)."""
    out = np.empty((len(clips), horizon, *clips.shape[2:]), np.uint8)
    for b0 in range(0, len(clips), batch):
        sl = slice(b0, b0 + batch)
        roll = DreamRollout(world, batch=len(clips[sl]), steps=steps, seed=seed + b0, **roll_kw)
        roll.reset(clips[sl, :k], lead[sl])
        for j in range(horizon):
            out[sl, j] = roll.step(acts[sl, k - 1 + j]).frames
    return out


def _scores(real: np.ndarray, guess: np.ndarray, rows: np.ndarray) -> dict:
    if not rows.any():
        return {"psnr_db": None, "ssim": None}
    return {"psnr_db": float(np.minimum(psnr(real[rows], guess[rows]), PSNR_CAP_DB).mean()), "ssim": float(ssim(real[rows], guess[rows]).mean())}


def fidelity(clips, acts, dream, k: int, horizons, hfov: float, vfov: float, threshold: float,
             last_vae: np.ndarray) -> dict:
    """{horizon: scores} for the dreams `dream` (n, max horizon, ...) of windows clips (n, k + max, ...);
    `last_vae` (n, H, W, 3): each window's last real frame through the world's VAE (`through_vae`)."""
    result = {}
    cam = camera_degrees(acts)
    for h in horizons:
        real, last = clips[:, k - 1 + h], clips[:, k - 1]
        guesses = {"model": dream[:, h - 1], "repeat_last": last,
                   "camera_shift": camera_shift(last, cam[:, k - 1 : k - 1 + h].sum(1), hfov, vfov),
                   "repeat_last_vae": last_vae}
        kinds = step_kinds(acts[:, k - 2 + h], threshold)
        every = np.ones(len(clips), bool)
        m = {name: _scores(real, g, every) for name, g in guesses.items()}
        m["windows"] = int(len(clips))
        m["by_step"] = {kind: {"windows": int((kinds == i).sum()),
                               **{name: _scores(real, g, kinds == i) for name, g in guesses.items()}}
                        for i, kind in enumerate(STEP_KINDS)}
        result[str(h)] = m
    return result
