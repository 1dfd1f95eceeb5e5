"""Keep a Crafter dream's terrain where the game's rules say it stays.

A dream draws each frame anew from the last one, and what it draws is biased to the common case:
over 50 steps of a random player a tree in view turns to grass far more often than the game ever
allows, and the cows and zombies fade out. A dream run for a few hundred steps ends as a field of
grass with nothing to chop, drink or hunt (docs/design.md, "The game's rules in the dream").
Yet in Crafter the materials do not change except by the player's own `do` or `place_*` on the
tile it faces (chopping a tree leaves grass, mining leaves a path: `InventoryLedger` draws those
effects), and water stays water. Creatures move one tile at a time, and plants stay where they
were planted.

`TerrainKeeper.keep` compares each tile of the DiT's new frame with the tile the previous frame
showed at the same place of the world (the previous view moved with the player's step) and puts
the previous tile back where the rules say the DiT changed what cannot change:
- a material tile (tree, water, stone, sand, table, ...) that the DiT drew as another material or
  a plant, or as a creature standing in a material no creature walks on;
- a plant that is gone with no creature next to it (a sapling may ripen) and no arrow in its row
  or column;
- a cow, zombie or skeleton that the DiT drew nowhere on its tile or the four next to it, when its
  tile is now bare walkable ground (it stays where it was).
Plants and creatures on the view's edge are left to the DiT: what tramples a plant there, or
where a creature went, may be out of view.
The strip of view a step brings in is judged only where a `WorldMemory` (crafter_memory.py)
remembers the material there: a remembered tree the DiT drew as grass is drawn back.
Left alone: the rest of that strip, the player's tile, the tile the player's own
action changes this step (the caller draws that change: `InventoryLedger`), creatures that arrive
or move, arrows, the light, and tiles read as the void outside the world (the parser reads dark
stone at deep night so too).
"""

from __future__ import annotations

import numpy as np

from worldenv.games.crafter.parse import template_parts

CREATURES = ("cow", "zombie", "skeleton")
WALKABLE = ("grass", "sand", "path")  # where crafter's creatures (and so the parser's templates) stand


class TerrainKeeper:
    """Restores the tiles a Crafter dream changed against the game's rules (see module docstring).

    `names` are the parser's template names (`CrafterFrameParser.template_names`, "object/ground"
    or "ground"), `rows` x `cols` the local view in tiles, `unit` the tile size in pixels and
    `border` the (x, y) pixel offset of the view. The player stands at the view's centre tile.
    """

    def __init__(self, names, rows: int, cols: int, unit: int, border: tuple[int, int] = (0, 0)):
        self.rows, self.cols, self.unit, self.border = rows, cols, unit, border
        obj, ground = template_parts(names)
        self.ground = np.array([{g: i for i, g in enumerate(sorted(set(ground)))}[g] for g in ground])
        self.material = np.array([o == "" for o in obj])  # a bare material tile
        self.plant = np.array([o.startswith("plant") for o in obj])
        self.creature = np.array([CREATURES.index(o) + 1 if o in CREATURES else 0 for o in obj])  # 0 = none
        self.player = np.array([o.startswith("player") for o in obj])
        self.arrow = np.array([o.startswith("arrow") for o in obj])
        self.shootable = np.array([o == "" and g in ("table", "furnace") for o, g in zip(obj, ground, strict=True)])
        self.path = np.array([o == "" and g == "path" for o, g in zip(obj, ground, strict=True)])
        self.void = np.array([g == "void" for g in ground])
        self.still = self.material | self.plant  # what stays where it is
        self.walkable = np.array([g in WALKABLE for g in ground])
        self.centre = (rows // 2, cols // 2)

    def view_step(self, prev_templates: np.ndarray, templates: np.ndarray, move: np.ndarray,
                  moved: np.ndarray | None = None) -> np.ndarray:
        """(n, 2) the (dx, dy) tile step each view made: `move` (n, 2) the step the player's action
        asks for ((0, 0) for none), or none where the game refused it. Told by `moved` (n,) bool
        (a dream's move gate), else, and where the frames clearly say otherwise, whichever of the
        two the new view matches better, on the tiles both show."""
        out = np.zeros_like(move)
        for i in range(len(move)):
            if not move[i].any():
                continue
            miss = [self.misses(prev_templates[i], templates[i], dx, dy) for dx, dy in ((0, 0), tuple(move[i]))]
            told = bool(moved[i]) if moved is not None else miss[1] <= miss[0]
            # two or more tiles fewer for the other candidate overrule what the gate said
            go = miss[1] + 1 < miss[0] or (told and miss[1] <= miss[0] + 1)
            out[i] = move[i] if go else 0
        return out

    def misses(self, prev_templates: np.ndarray, templates: np.ndarray, dx: int, dy: int) -> int:
        """How many terrain tiles of the view `templates` (rows, cols) differ from the previous view's
        after a step (dx, dy), of those both views show (creatures and the player move)."""
        old = _moved(prev_templates, int(dx), int(dy))
        both = (old >= 0) & self.still[np.maximum(old, 0)] & self.still[templates]
        return int((old[both] != templates[both]).sum())

    def guess_step(self, prev_templates: np.ndarray, templates: np.ndarray) -> tuple[int, int]:
        """The (dx, dy) step between two views of unknown action: the move whose view matches the new
        one with the fewest `misses`, where that is fewer than standing still (else (0, 0): uniform
        terrain looks the same moved or not)."""
        best, fewest = (0, 0), self.misses(prev_templates, templates, 0, 0)
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            m = self.misses(prev_templates, templates, dx, dy)
            if m < fewest:
                best, fewest = (dx, dy), m
        return best

    def keep(self, prev_frames: np.ndarray, prev_templates: np.ndarray, frames: np.ndarray,
             templates: np.ndarray, shift: np.ndarray, facing: np.ndarray,
             recalled: np.ndarray | None = None, draw=None) -> np.ndarray:
        """Put back, in place, the tiles of `frames` (n, H, W, 3) uint8 that the rules say keep
        what `prev_frames` showed. `prev_templates` / `templates` (n, rows, cols) are the parser's
        template indices of both; `shift` (n, 2) the (dx, dy) tile step the view made (the player's
        move, (0, 0) when it stayed); `facing` (n, 2) the (dx, dy) from the player of the tile its
        action changes this step ((0, 0): none), which is left to the caller. `recalled` (n, rows,
        cols), the materials a `WorldMemory` remembers at each tile (-1 none), judge the strip the
        step brings in; `draw(i, template)` gives the (unit, unit, 3) pixels to put back there.
        `frames` and `templates` are changed in place. Returns (n,) the number of tiles restored."""
        n = len(frames)
        restored = np.zeros(n, np.int64)
        u, (bx, by) = self.unit, self.border
        for i in range(n):
            dx, dy = (int(v) for v in shift[i])
            old = _moved(prev_templates[i], dx, dy)  # (rows, cols) the previous template at each place, -1 unknown
            fresh = old < 0
            if recalled is not None:  # the strip the step brings in, as last seen
                old = np.where(fresh, recalled[i], old)
            new = templates[i]
            keep = self.broken(old, new, facing[i])
            for r, c in zip(*np.nonzero(keep), strict=True):
                pr, pc = r + dy, c + dx
                frames[i, by + r * u : by + (r + 1) * u, bx + c * u : bx + (c + 1) * u] = (
                    draw(i, int(old[r, c])) if fresh[r, c] else
                    prev_frames[i, by + pr * u : by + (pr + 1) * u, bx + pc * u : bx + (pc + 1) * u])
                new[r, c] = old[r, c]
            restored[i] = int(keep.sum())
        return restored

    def broken(self, old: np.ndarray, new: np.ndarray, facing) -> np.ndarray:
        """(rows, cols) bool: the tiles where the view `new` breaks a rule against `old`, the
        previous view moved with the player (-1 = unknown), where the player's action changes the
        tile at `facing` (dx, dy) from it ((0, 0): none)."""
        r0, c0 = self.centre
        # outside the world crafter leaves the view grey, which the parser may also read for
        # dark stone at night: a void tile, before or after, is not judged
        known = (old >= 0) & ~self.void[np.maximum(old, 0)] & ~self.void[new]
        known[r0, c0] = False  # the player's own tile and the one it changes are the player's
        fr, fc = r0 + int(facing[1]), c0 + int(facing[0])
        known[fr, fc] = False
        o = np.where(known, old, 0)
        same_ground = self.ground[o] == self.ground[new]
        # an arrow flies straight: in the row or column of an arrow, a plant may be shot down
        # and a table or furnace turned to path (crafter's `Arrow.update`)
        arrows = self.arrow[np.maximum(old, 0)] & (old >= 0) | self.arrow[new]
        shot = arrows.any(axis=1, keepdims=True) | arrows.any(axis=0, keepdims=True)
        # a material that became another material, a plant or a second player, or a creature
        # inside a solid tile
        material = known & self.material[o] & (
            (self.material[new] & ~same_ground & ~(shot & self.shootable[o] & self.path[new]))
            | self.plant[new] | self.player[new] | ((self.creature[new] > 0) & ~self.walkable[o]))
        # a plant that is gone with no creature next to it (crafter's creatures trample plants)
        # (within two tiles: a creature may step next to it and away again between two frames)
        kind = np.where(known, self.creature[o], 0)  # the creature each known tile showed, 0 none
        trampled = _near(_near((self.creature[new] > 0) | (kind > 0)))
        inner = np.zeros_like(known)  # off the view's edge, where what tramples or walks may be out of view
        inner[1:-1, 1:-1] = True
        plant = known & self.plant[o] & ~self.plant[new] & ~trampled & ~shot & inner
        # a creature gone from its tile and the four next to it, its tile now bare ground
        gone = np.ones_like(known)
        for k in range(1, len(CREATURES) + 1):
            gone &= ~((kind == k) & _near(self.creature[new] == k))
        creature = (kind > 0) & gone & inner & self.material[new] & self.walkable[new]
        return material | plant | creature


def _near(mask: np.ndarray) -> np.ndarray:
    """(rows, cols) bool: `mask` on the tile or one of the four next to it."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _moved(templates: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The view `templates` (rows, cols) after the player steps (dx, dy): each tile shows what was
    (dy, dx) further on before; -1 where the step brings in a strip never seen."""
    rows, cols = templates.shape
    out = np.full_like(templates, -1)
    rs, cs = slice(max(dy, 0), rows + min(dy, 0)), slice(max(dx, 0), cols + min(dx, 0))
    rd, cd = slice(max(-dy, 0), rows + min(-dy, 0)), slice(max(-dx, 0), cols + min(-dx, 0))
    out[rd, cd] = templates[rs, cs]
    return out
