"""Pixel metrics shared by the evaluations."""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB of uint8 frames (n, H, W, 3)."""
    mse = ((a.astype(np.float32) - b.astype(np.float32)) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def luma(frames: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma (..., H, W) in [0, 255] of RGB frames (..., H, W, 3)."""
    f = np.asarray(frames, np.float64)
    return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114


def _gaussian_filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable filter of (n, H, W) by the 1-D window `g`, 'valid' (no padding)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, len(g), axis=2) @ g  # (n, H, W - k + 1)
    return sliding_window_view(x, len(g), axis=1) @ g  # (n, H - k + 1, W - k + 1)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Per-frame SSIM of uint8 frames (n, H, W, 3), as Wang et al. (2004) define it: on luma, with a
    `window`-tap Gaussian (σ `sigma`) over the frame's valid positions, C1 = (0.01·255)², C2 =
    (0.03·255)², averaged over the frame. The window shrinks to the frame's smaller side (odd) on
    frames smaller than it. 1 for identical frames; lower the more they differ in structure."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"ssim needs two (n, H, W, 3) arrays of one shape, got {a.shape} and {b.shape}")
    k = min(window, a.shape[1], a.shape[2])
    k -= 1 - k % 2  # odd
    r = np.arange(k) - (k - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    g /= g.sum()
    x, y = luma(a), luma(b)
    mx, my = _gaussian_filter_valid(x, g), _gaussian_filter_valid(y, g)
    sxx = _gaussian_filter_valid(x * x, g) - mx * mx
    syy = _gaussian_filter_valid(y * y, g) - my * my
    sxy = _gaussian_filter_valid(x * y, g) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.reshape(len(s), -1).mean(1)
