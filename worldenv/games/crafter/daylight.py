"""Crafter's day and night by the game's clock, so that a dream need not draw them.

Crafter's daylight is a function of the episode step alone (`Env._update_time`): it follows
`1 - |cos(pi (step / 300 % 1 + 0.3))|^3`, a 300-step day. Below daylight 0.5 the game mixes fresh
grey grain into every pixel of the view, a new draw each frame (night.py). The DiT drew
those nights poorly: each dreamed night frame lost contrast to the next, until the view was a
dark fog (after a noop at night the shipped world kept 66 % of the tiles after one step and 36 %
after 16, against 99 % and 90 % by day; docs/design.md, "The game's rules in the dream").

`CrafterClock` takes the night out of the dream's hands. The dream is given frames as they
would look at full daylight (`day_frames`: the darkening inverted where it is exact, daylight
>= 0.5, else the view redrawn from the frame parser's nearest day templates), dreams in daylight,
and its frames are shown darkened by the clock, with the game's own grain (`show`). The clock
of a dream started from frames is read off their daylight (`start`): the step of the
300-step day whose daylight curve fits the clip's best.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from model.dream_rules import DreamRules
from worldenv.games.crafter.night import CrafterNight
from worldenv.games.crafter.parse import CrafterFrameParser
from worldenv.games.crafter.row_seeds import reseed_rows

DAY_LENGTH = 300  # steps of one Crafter day
FULL_DAY = 0.999  # frames at or above this daylight are their own day look


def daylight_at(step) -> np.ndarray:
    """Crafter's daylight at episode `step` (int or array): `Env._update_time`'s curve."""
    progress = (np.asarray(step, np.float64) / DAY_LENGTH) % 1 + 0.3
    return 1 - np.abs(np.cos(np.pi * progress)) ** 3


class CrafterClock(DreamRules):
    """Day looks of Crafter frames and the clock that darkens dreamed ones (see module docstring).

    `size` (W, H) and `view` (cols, rows) as for `CrafterFrameParser`; `parser` may be passed to
    share one. One clock serves `n` dreams: `start(rows, clips)` sets their steps from the
    clips' light, `tick()` advances every dream by a step, `show(frames, sleeping)` darkens.
    It is also `DreamRules` on its own (`reset`, `model_frames`, and the call, which takes the
    DiT's frames and returns (day looks for the context, darkened frames to show)); it keeps no
    events, rewards or ends (the world's heads give those). With the inventory,
    `InventoryLedger(keep_daylight=True)` runs one.
    """

    def __init__(self, n: int, size: tuple[int, int] = (72, 72), view: tuple[int, int] = (9, 9),
                 parser: CrafterFrameParser | None = None, seed: int = 0):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.parser = parser or CrafterFrameParser(size=size, view=view)
        self.night = CrafterNight(size, view)
        self.steps = np.zeros(n, np.int64)  # each dream's episode step, mod the day
        self.rngs = [np.random.default_rng(seed + i) for i in range(n)]  # grain, one stream per dream
        y0, y1, x0, x1 = self.night.box
        self._box = (slice(y0, y1), slice(x0, x1))

    @property
    def daylight(self) -> np.ndarray:
        """(n,) each dream's daylight now."""
        return daylight_at(self.steps)

    def day_frames(self, frames: np.ndarray) -> np.ndarray:
        """Frames (N, H, W, 3) uint8 as they would look at full daylight (the inventory rows, which
        the game never darkens, stay). Daylight >= 0.5 and awake: the darkening is an affine map of
        each pixel's colour, inverted (exact up to the game's rounding). Night grain or the
        sleeper's grey view hide the colours, so there each tile becomes the parser's nearest day
        template (the parser reads real frames right on 97 % of night tiles)."""
        frames = np.asarray(frames)
        shape = frames.shape
        flat = frames.reshape(-1, *shape[-3:])
        tpl, light, asleep = self.parser.templates(flat)  # flat is always a batch: batched answers
        out = flat.copy()
        invert = (light >= 0.5) & (light < FULL_DAY) & ~asleep
        if invert.any():
            canvas = self.night.canvas(flat[invert], light[invert])
            out[(invert, *self._box)] = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
        redraw = (light < 0.5) | asleep
        if redraw.any():
            u = self.parser.unit
            t = tpl[redraw]  # (m, rows, cols) template indices
            m, rows, cols = t.shape
            tiles = self.parser.template_images[t]  # (m, rows, cols, u, u, 3)
            out[(redraw, *self._box)] = tiles.transpose(0, 1, 3, 2, 4, 5).reshape(m, rows * u, cols * u, 3)
        return out.reshape(shape)

    def start(self, rows, clips: np.ndarray) -> None:
        """Set the clock of dreams `rows` from their start clips (len(rows), k, H, W, 3): the step
        of the day (the clip's last frame's) whose daylight curve over the clip fits the frames'
        daylight best. Where several fit equally (the bright noon is flat), the middle one."""
        clips = np.asarray(clips)
        k = clips.shape[1]
        _, light, _ = self.parser.templates(clips.reshape(-1, *clips.shape[2:]))
        light = np.asarray(light, np.float64).reshape(len(clips), k)
        cand = np.arange(DAY_LENGTH)
        curve = daylight_at(cand[:, None] - (k - 1) + np.arange(k))  # (300, k): candidate last steps
        err = ((curve[None] - light[:, None]) ** 2).mean(-1)  # (len(rows), 300)
        for r, e in zip(list(rows), err, strict=True):
            best = np.flatnonzero(e <= e.min() + 1e-4)
            self.steps[r] = int(best[len(best) // 2])

    def reset(self, rows, frames: np.ndarray, actions=None, seeds: list[int] | None = None) -> None:
        """Start dreams `rows` from clips (len(rows), k, H, W, 3) (the `DreamRules` interface; `actions`
        are not needed); `seeds` reseed those dreams' grain."""
        rows = list(rows)
        reseed_rows(self.rngs, rows, seeds)
        self.start(rows, frames)

    def model_frames(self, frames: np.ndarray) -> np.ndarray:
        """What the DiT is given for real frames: their day looks (`day_frames`)."""
        return self.day_frames(frames)

    def __call__(self, actions, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One dream step: the clock ticks; the DiT's frames (n, H, W, 3) go back into the context as
        day looks (a drift into darker frames is undone) and are shown darkened by the clock."""
        self.tick()
        # one BLAS thread for the parser's small products: numpy's threads keep spinning after a call
        # and slow torch's next step on a 2-core machine (as in InventoryLedger.step)
        with threadpool_limits(1, user_api="blas"):
            context = self.day_frames(frames)
        return context, self.show(context)

    def tick(self) -> None:
        """Every dream one step on."""
        self.steps = (self.steps + 1) % DAY_LENGTH

    def show(self, frames: np.ndarray, sleeping: np.ndarray | None = None) -> np.ndarray:
        """Day-look frames (n, H, W, 3) uint8 darkened to each dream's daylight, with fresh grain, as
        the game draws them (the sleeper's grey view where `sleeping`, (n,) bool)."""
        frames = np.asarray(frames)
        y, x = self._box
        canvas = frames[:, y, x].astype(np.float32)
        asleep = np.zeros(len(frames), bool) if sleeping is None else np.asarray(sleeping, bool)
        light = self.daylight
        # row by row, each with its dream's grain stream: dream i of a batch sees the grain it would alone
        return np.concatenate([self.night.render(frames[i : i + 1], canvas[i : i + 1], light[i : i + 1],
                                                 asleep[i : i + 1], self.rngs[i])[0] for i in range(len(frames))])
