"""Remember the materials a Crafter dream has shown, by place in its world.

The DiT draws the strip of view a step brings in anew, and what it draws there has fewer trees
than the game's (docs/design.md, "The game's rules in the dream"). Yet most of that strip has
been seen before: a random player's step brings in tiles it saw earlier in the episode 64 % of the
time (the real game, 8 episodes of 200 steps). In Crafter a material does not change out of view:
trees, water, stone and tables change only by the player's own action, on the tile it faces.
`WorldMemory` keeps, per dream, the last material seen at each world tile; where a step brings a
tile back into view, `recall` says what it was, and the `TerrainKeeper` draws it back where the
DiT drew another material.

Positions are counted in tiles from where the dream started, following the view's steps (which
`TerrainKeeper.view_step` decides from the rollout's move gate and the frames). The map is a torus
of `size` tiles a side: Crafter's worlds are 64 tiles wide, so a dream cannot walk far enough to
meet its own memory from the other side.
"""

from __future__ import annotations

import numpy as np

from worldenv.games.crafter.parse import template_parts


class WorldMemory:
    """The last material each of `n` dreams saw at each world tile (see module docstring).

    `names` are the parser's template names ("object/ground" or "ground"), `rows` x `cols` the
    view in tiles, the player at its centre. Per step: `move` by the view's step, `recall` the
    remembered templates of the view (-1 unknown), `store` the view as finally drawn.
    """

    def __init__(self, n: int, names, rows: int, cols: int, size: int = 128):
        self.rows, self.cols, self.size = rows, cols, size
        obj, ground = template_parts(names)
        index = {s: k for k, s in enumerate(names)}
        # what each template says of the material below it: the ground under a creature, an arrow
        # or the player; a plant is forgotten (-2: it may be eaten or trampled out of view, and
        # bare grass remembered under it would uproot it), the void says nothing (-1)
        self.material = np.array([-2 if o.startswith("plant") else -1 if g == "void" or g not in index else index[g]
                                  for o, g in zip(obj, ground, strict=True)])
        self.map = np.full((n, size, size), -1, np.int16)
        self.pos = np.zeros((n, 2), np.int64)  # (x, y) of the player, in tiles from the dream's start

    def reset(self, rows) -> None:
        """Forget dreams `rows`: they start anew at (0, 0)."""
        self.map[rows] = -1
        self.pos[rows] = 0

    def move(self, shift: np.ndarray) -> None:
        """Every dream's view stepped by `shift` (n, 2), (dx, dy) tiles."""
        self.pos += np.asarray(shift, np.int64)

    def _places(self, rows, offset=None) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), rows, 1) and (len(rows), 1, cols) map indices of each view tile, of a view
        `offset` (len(rows), 2) tiles from where each player is (None: where it is)."""
        pos = self.pos[np.asarray(rows, np.int64)]
        if offset is not None:
            pos = pos + np.asarray(offset, np.int64)
        ys = (pos[:, 1, None] + np.arange(self.rows) - self.rows // 2) % self.size
        xs = (pos[:, 0, None] + np.arange(self.cols) - self.cols // 2) % self.size
        return ys[:, :, None], xs[:, None, :]

    def recall(self, rows) -> np.ndarray:
        """(len(rows), rows, cols) the template of the material last seen at each view tile, -1 where
        none was."""
        ys, xs = self._places(rows)
        return self.map[np.asarray(rows, np.int64)[:, None, None], ys, xs].astype(np.int64)

    def store(self, rows, templates: np.ndarray, offset=None) -> None:
        """Remember the materials the views `templates` (len(rows), rows, cols) of dreams `rows` show,
        seen from `offset` (len(rows), 2) tiles from where each player is now (None: from there; an
        earlier frame of a start clip is seen from where the player stood then)."""
        ys, xs = self._places(rows, offset)
        seen = self.material[templates]
        r = np.broadcast_to(np.asarray(rows, np.int64)[:, None, None], seen.shape)
        ys, xs = np.broadcast_to(ys, seen.shape), np.broadcast_to(xs, seen.shape)
        keep = seen != -1
        self.map[r[keep], ys[keep], xs[keep]] = np.maximum(seen[keep], -1)
