"""Keep a Crafter dream's terrain by the rules along its steps: the `TerrainKeeper` (terrain.py)
puts back the tiles the DiT changed against the game's rules, and a `WorldMemory` (memory.py)
remembers the materials seen before, from the start clip on, for the strip a step brings back
into view (docs/design.md, "The game's rules in the dream")."""

from __future__ import annotations

from typing import Callable

import numpy as np

from worldenv.games.crafter.common import action_moves
from worldenv.games.crafter.memory import WorldMemory
from worldenv.games.crafter.parse import CrafterFrameParser
from worldenv.games.crafter.terrain import TerrainKeeper


class KeptTerrain:
    """The terrain of `n` dreams kept by the rules (see module docstring): `terrain` the keeper,
    `memory` the world memory, `restored` (n,) the tiles put back in the last step."""

    def __init__(self, n: int, parser: CrafterFrameParser):
        p, names = parser, parser.template_names
        self.terrain = TerrainKeeper(names, p.rows, p.cols, p.unit, p.view_origin)
        self.memory = WorldMemory(n, names, p.rows, p.cols)
        self.restored = np.zeros(n, np.int64)

    def reset(self, rows: list, templates: np.ndarray, asleep: np.ndarray, moves: np.ndarray) -> None:
        """Dreams `rows` start from clips: every view of them, `templates` (len(rows), k, rows, cols)
        read off their frames (`asleep` (len(rows), k): drawn asleep, grey, not read), goes in the
        memory, each where its view was: the clip's view steps are read off its frames and the moves
        into them (`moves` (len(rows), k), -1 none), as the dream's own are; where the action is not
        known, off the frames alone (`TerrainKeeper.guess_step`). A clip longer than the DiT's
        window (a prompt video) is remembered whole, so a dream that goes back to a place the prompt
        showed finds it as it was."""
        self.memory.reset(rows)
        n, k = templates.shape[:2]
        if moves.shape[1] != k:  # no actions given: every view step is read off the frames alone
            moves = np.full((n, k), -1)
        steps = np.zeros((n, k, 2), np.int64)  # steps[:, t]: the view's step into frame t
        for t in range(1, k):
            want = action_moves(moves[:, t])
            steps[:, t] = self.terrain.view_step(templates[:, t - 1], templates[:, t], want)
            for j in np.flatnonzero(moves[:, t] < 0):
                steps[j, t] = self.terrain.guess_step(templates[j, t - 1], templates[j, t])
            steps[asleep[:, t] | asleep[:, t - 1], t] = 0  # a sleeper does not move
        # where each frame's view was, from where the player stands at the clip's end
        offset = steps[:, ::-1].cumsum(1)[:, ::-1] - steps
        for t in range(k):
            awake = ~asleep[:, t]
            self.memory.store([r for r, a in zip(rows, awake, strict=True) if a], templates[awake, t],
                              -offset[awake, t])

    def keep(self, frames: np.ndarray, templates: np.ndarray, prev_frames: np.ndarray,
             prev_templates: np.ndarray, actions: np.ndarray, moved: np.ndarray | None, awake: np.ndarray,
             acted: np.ndarray, tile: Callable[[int, int], np.ndarray]) -> None:
        """Restore, in `frames` (n, H, W, 3) and their `templates`, the tiles the DiT changed against
        the game's rules since `prev_frames` / `prev_templates`. The view follows the DiT's `actions`
        (n,) as the rollout's move gate let them through (`moved` (n,) bool, None: no gate), and the
        memory with it. Only dreams `awake` (n,) bool in both frames are judged (a sleeper's grey view
        is not parsed for terrain); `acted` (n, 2) is the (dx, dy) of the tile the player's own action
        changed ((0, 0): none), left to the caller; `tile(i, k)` draws template k as dream i's frame
        is lit."""
        step = self.terrain.view_step(prev_templates, templates, action_moves(actions), moved)
        self.memory.move(step)
        self.restored[:] = 0
        if awake.any():
            rows = np.flatnonzero(awake)
            f, t = frames[rows], templates[rows]
            self.restored[rows] = self.terrain.keep(prev_frames[rows], prev_templates[rows], f, t, step[rows],
                                                    acted[rows], self.memory.recall(rows),
                                                    lambda j, k: tile(rows[j], k))
            frames[rows], templates[rows] = f, t

    def store(self, templates: np.ndarray, drawn_asleep: np.ndarray) -> None:
        """Remember the views `templates` (n, rows, cols) as finally drawn, but those drawn asleep."""
        awake = np.flatnonzero(~drawn_asleep)
        self.memory.store(awake, templates[awake])
