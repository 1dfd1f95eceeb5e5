"""The two guesses a world model must beat: repeat the last frame, and shift the last frame by the
camera's turn (the one-line geometric guess: a yaw of θ degrees moves the image θ·W/hfov pixels
sideways, a pitch θ·H/vfov pixels vertically; the strip the turn uncovers repeats the edge pixels).
A third, `through_vae`, repeats the last frame as a latent world model could at best: encoded and
decoded by its VAE. Where "repeat" wins only by the VAE's loss, no DiT on that VAE can beat it."""

from __future__ import annotations

import numpy as np


def shift_frames(frames: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Frames (n, H, W, 3) uint8 sampled at (row + dy, col + dx), bilinear, clamped to the edge: the
    view after turning right by dx pixels and down by dy pixels (the content moves left and up)."""
    frames = np.asarray(frames)
    n, h, w, _ = frames.shape
    out = np.empty_like(frames)
    for i in range(n):
        x = np.clip(np.arange(w) + float(dx[i]), 0, w - 1)
        y = np.clip(np.arange(h) + float(dy[i]), 0, h - 1)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = (x - x0)[None, :, None], (y - y0)[:, None, None]
        f = frames[i].astype(np.float32)
        top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
        bottom = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
        out[i] = np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
    return out


def camera_shift(frames: np.ndarray, camera: np.ndarray, hfov: float, vfov: float) -> np.ndarray:
    """The last frames (n, H, W, 3) moved by camera turns (n, 2) [pitch, yaw] in degrees (+yaw turns
    right, +pitch looks down, as model.vpt)."""
    h, w = frames.shape[1:3]
    camera = np.asarray(camera, np.float64)
    return shift_frames(frames, camera[:, 1] * w / hfov, camera[:, 0] * h / vfov)


def through_vae(world, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Frames (n, H, W, 3) uint8 encoded and decoded by `world`'s VAE (the world's frame size), in float32."""
    from model.vae_evaluation import reconstruct

    return reconstruct(world.vae, frames, batch, bf16=False)[0]
