"""Per-pixel loss weights from the recorded tile map, so a VAE does not average rare tiles away.

In a tile-based 2D game a few classes (grass, sand, stone) fill most frames; a cow, a table or an
ore is one tile in a few hundred. With a plain pixel loss those are where a VAE fails first: an
earlier VAE reconstructed none of them recognisably (docs/results/vae.md). A tile-based game's
recorder writes the local view's semantic map with every frame (jsonl `tiles`, (rows, cols)
class ids), so the loss can weight each tile's pixels by how rare its class is:

    w(class) = min(cap, sqrt(f_max / f(class)))      f = share of tiles of that class in the data

The most common class gets 1, a class 100x rarer gets 10 (or `cap`). Pixels outside the local view
(inventory, border) get 1.
"""

from __future__ import annotations

import numpy as np


def class_weights(tiles: np.ndarray, cap: float) -> np.ndarray:
    """Weight per class id (index = id) from the tile maps (..., rows, cols) of a dataset."""
    if cap < 1:
        raise ValueError(f"the weight cap must be >= 1, got {cap}")
    counts = np.bincount(tiles.ravel().astype(np.int64)).astype(np.float64)
    seen = counts > 0
    w = np.ones_like(counts)
    w[seen] = np.minimum(cap, np.sqrt(counts.max() / counts[seen]))
    return w.astype(np.float32)


def pixel_weights(tiles: np.ndarray, weights: np.ndarray, size: tuple[int, int],
                  view: tuple[int, int]) -> np.ndarray:
    """(n, rows, cols) class ids -> (n, H, W) float32 pixel weights for frames of `size` (W, H)
    rendered with a tile `view` (cols, view rows incl. the inventory rows); the local view sits at
    the top-left of the tile grid (centred in the frame when the frame is not a whole number of tiles)."""
    W, H = size
    n, rows, cols = tiles.shape
    unit = W // view[0]
    if cols != view[0] or unit != H // view[1] or rows > view[1]:
        raise ValueError(f"tile maps of {rows}x{cols} do not fit frames of {W}x{H} with a {view} tile view")
    bx, by = (W - unit * view[0]) // 2, (H - unit * view[1]) // 2
    table = np.ones(max(int(tiles.max()) + 1, len(weights)), np.float32)
    table[: len(weights)] = weights
    per_tile = table[tiles.astype(np.int64)]  # (n, rows, cols)
    out = np.ones((n, H, W), np.float32)
    out[:, by : by + rows * unit, bx : bx + cols * unit] = per_tile.repeat(unit, 1).repeat(unit, 2)
    return out
