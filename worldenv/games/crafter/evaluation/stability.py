"""Stability: a long closed-loop dream with random actions; does it stay a valid, varied world?"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm import tqdm

from model.rollout import WorldModel
from worldenv.games.crafter.evaluation.dreams import start_dreams


def tile_kinds(tiles: np.ndarray) -> float:
    """Mean number of distinct tile classes per local view, tiles (n, rows, cols): how varied the
    world around the player is (1 = a uniform field)."""
    return float(np.mean([len(np.unique(t)) for t in tiles]))


def stability(world: WorldModel, parser, clips, acts, k: int, n_steps: int, every: int, steps: int, seed: int,
              roll_kw: dict | None = None, rules: Sequence[str] = ()):
    """Closed-loop random-action rollout from the first clip, under `rules`: validity, mean frame
    change, daylight and tile kinds per window of `every` steps, and the frames at those steps."""
    roll = start_dreams(world, clips[:1], acts[:1], k, steps, seed, roll_kw, rules)
    rng = np.random.default_rng(seed)
    n_actions = int(world.action_nvec[0])
    prev = clips[0, k - 1]
    curve, window, changes = [], [], []
    snapshots = [prev]  # one frame per `every` steps, for the stability filmstrip
    first = parser.parse(prev[None])
    curve.append({"step": 0, "validity": first.validity(), "frame_change": 0.0, "daylight": float(first.daylight[0]),
                  "tile_kinds": tile_kinds(first.tiles)})
    for t in tqdm(range(1, n_steps + 1), desc="stability", unit="step", leave=False):
        frame = roll.step(np.array([rng.integers(n_actions)])).frames[0]
        changes.append(float(np.abs(frame.astype(np.int16) - prev).mean()))
        window.append(frame)
        prev = frame
        if t % every == 0:
            sample = np.stack(window[:: max(1, len(window) // 50)])
            parsed = parser.parse(sample)
            # daylight too: deep-night frames are dark and grainy, and a dream stuck at night
            # passes the validity check more easily than one in daylight
            curve.append({"step": t, "validity": parsed.validity(),
                          "frame_change": float(np.mean(changes[-every:])),
                          "daylight": float(parsed.daylight.mean()),
                          # a world that keeps its frames valid can still shrink to one field of grass
                          "tile_kinds": tile_kinds(parsed.tiles)})
            snapshots.append(frame)
            window = []
    return curve, np.stack(snapshots)
