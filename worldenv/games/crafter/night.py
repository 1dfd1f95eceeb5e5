"""Crafter's night rendering as a function of daylight: the darkening inverted, and redrawn.

Crafter darkens the local view as daylight d falls (`engine.LocalView._light`): the view is blended
with a desaturated (colour 0.4), blue-tinted copy of itself, weight 1 - d. Below d = 0.5 that copy
is first mixed with fresh uniform grey noise (32..127 per pixel, amount 2 (0.5 - d) times a
vignette that is 0 at the centre): a new draw every frame, which carries no game state. Sleeping
then drops all colour and tints the view blue. The inventory rows are never darkened.

`CrafterNight` undoes the darkening of a frame shown at daylight >= 0.5 (`canvas`: the view as it
looks at full day) and shows a day view at any daylight (`render`): with fresh grain, as the game
draws it, and with the grain at its mean (the expected frame, which the frame parser reads
perfectly). The dream's clock (`daylight.CrafterClock`) dreams in day looks and shows them this way.
"""

from __future__ import annotations

import numpy as np

from worldenv.games.crafter.parse import (
    LUMA,
    NIGHT_TINT,
    NOISE_RANGE,
    SLEEP_TINT,
    inventory_rows,
    local_view_vignette,
)

NIGHT_COLOUR = 0.4  # ImageEnhance.Color factor of the night copy


def _grey(x: np.ndarray) -> np.ndarray:
    return (x @ LUMA)[..., None]


class CrafterNight:
    """Re-render Crafter frames of `size` (W, H) px with a `view` (cols, rows) tile grid at other daylights.

    The bottom rows of the grid are the inventory (`inventory_rows`), which daylight does not touch.
    """

    def __init__(self, size: tuple[int, int] = (72, 72), view: tuple[int, int] = (9, 9)):
        W, H = size
        cols, rows = view
        item_rows = inventory_rows(view)
        unit = (W // cols, H // rows)
        if min(unit) < 1 or not 0 <= item_rows < rows:
            raise ValueError(f"frame size {size} and view {view} (item rows {item_rows}) do not fit")
        bx, by = (W - unit[0] * cols) // 2, (H - unit[1] * rows) // 2
        self.size, self.view = (W, H), (cols, rows)
        vw, vh = unit[0] * cols, unit[1] * (rows - item_rows)  # local view in pixels
        self.box = (by, by + vh, bx, bx + vw)  # rows y0:y1, cols x0:x1 of the local view
        self.vignette = local_view_vignette(vw, vh)

    def _check(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        W, H = self.size
        if frames.ndim != 4 or frames.shape[1:] != (H, W, 3):
            raise ValueError(f"frames must be (N, {H}, {W}, 3), got {frames.shape}")
        return frames

    def canvas(self, frames: np.ndarray, daylight: np.ndarray) -> np.ndarray:
        """The undarkened local view (N, vh, vw, 3) float32 of frames (N, H, W, 3) uint8 shown at
        `daylight` (N,), which must be >= 0.5 (no grain) and awake: at those levels the darkening is
        a per-pixel linear map of the colours, inverted here (up to the game's uint8 rounding)."""
        frames = self._check(frames)
        d = np.asarray(daylight, np.float32).reshape(-1, 1, 1, 1)
        if len(d) != len(frames) or (d < 0.5).any():
            raise ValueError("canvas() needs one daylight >= 0.5 per frame (below it the game adds grain)")
        y0, y1, x0, x1 = self.box
        out = frames[:, y0:y1, x0:x1].astype(np.float32)
        # out = a c + b grey(c) + (1 - d) T / 2, a = d + 0.2 (1 - d), b = 0.3 (1 - d); grey(1) = 1
        a, b = d + 0.5 * NIGHT_COLOUR * (1 - d), 0.5 * (1 - NIGHT_COLOUR) * (1 - d)
        y = out - (1 - d) * 0.5 * NIGHT_TINT
        return ((y - b / (a + b) * _grey(y)) / a).astype(np.float32)

    def render(self, frames: np.ndarray, canvas: np.ndarray, daylight: np.ndarray, sleeping: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frames (N, H, W, 3) with their local view replaced by `canvas` shown at `daylight` (N,):
        (as the game draws it, with fresh grain; the same with the grain at its mean), uint8."""
        frames = self._check(frames)
        n = len(frames)
        y0, y1, x0, x1 = self.box
        if canvas.shape != (n, y1 - y0, x1 - x0, 3):
            raise ValueError(f"canvas must be ({n}, {y1 - y0}, {x1 - x0}, 3) (from canvas()), got {canvas.shape}")
        d = np.asarray(daylight, np.float32).reshape(n, 1, 1, 1)
        sleeping = np.asarray(sleeping, bool).reshape(n, 1, 1, 1)
        amount = np.clip(2 * (0.5 - d), 0, None) * self.vignette[None, :, :, None]
        noise = rng.uniform(*NOISE_RANGE, canvas.shape[:3])[..., None]
        out = []
        for grain in (noise, sum(NOISE_RANGE) / 2):
            night = np.floor((1 - amount) * canvas + amount * grain)  # the game casts to uint8 here
            night = NIGHT_COLOUR * night + (1 - NIGHT_COLOUR) * _grey(night)
            night = 0.5 * night + 0.5 * NIGHT_TINT
            view = d * canvas + (1 - d) * night
            slept = 0.5 * _grey(np.floor(view)) + 0.5 * SLEEP_TINT
            view = np.where(sleeping, slept, view)
            full = frames.copy()
            full[:, y0:y1, x0:x1] = np.clip(view, 0, 255).astype(np.uint8)
            out.append(full)
        return out[0], out[1]
