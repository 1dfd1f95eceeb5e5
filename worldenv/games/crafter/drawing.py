"""Draw a Crafter dream's player state into its frames the way the game draws it.

The DiT draws a whole frame, and what it draws of the player's state can be wrong: a wood that no
tree gave in the inventory rows, the player turned another way, a tree that stays after the chop.
`DreamPainter` draws these by the rules' state with crafter's own textures and drawing code: the
player facing the way it last moved, the effect of its own `do` or `place_*` on the faced tile,
the inventory rows (`ItemView`), and a sleeper's view (the sleeping texture, then the view grey
and tinted, as `engine.LocalView._sleep` does), so that the DiT never has to draw sleep.
"""

from __future__ import annotations

import numpy as np
from crafter import engine

from worldenv.games.crafter.common import SIDE, ViewTiles
from worldenv.games.crafter.parse import INVENTORY_ITEMS, LUMA, NIGHT_TINT, SLEEP_TINT, CrafterFrameParser


class DreamPainter:
    """Draws into `n` dreams' frames (see module docstring); `parser` gives the frame layout and
    textures, `tiles` its templates by part. After a step, `player_drawn` (n,) says where the
    player's facing was drawn and `effects` (n,) where the faced tile's effect was."""

    def __init__(self, n: int, parser: CrafterFrameParser, tiles: ViewTiles):
        self.parser, self.tiles = parser, tiles
        self.items_view = engine.ItemView(parser.textures, (parser.cols, parser.item_rows))
        self.player_drawn = np.zeros(n, np.int64)
        self.effects = np.zeros(n, np.int64)

    def _tile_box(self, r: int, c: int) -> tuple[slice, slice]:
        """The pixels (rows, columns) of the view's tile (r, c)."""
        p, u = self.parser, self.parser.unit
        bx, by = p.view_origin
        return slice(by + r * u, by + (r + 1) * u), slice(bx + c * u, bx + (c + 1) * u)

    def draw_player(self, frames: np.ndarray, templates: np.ndarray, facing: np.ndarray, daylight: np.ndarray,
                    drawn_asleep: np.ndarray) -> None:
        """Draw, in `frames` and `templates`, the player on the centre tile facing the way the rules
        say (`facing` (n, 2): the last move, refused or not) where the DiT drew another facing or no
        player. The DiT turns the player at random: at horizon 1 the facing it drew was the game's
        after 52 % of the actions that are not moves (docs/design.md, "The game's rules in
        the dream"), and the faced tile is where `do` and `place_*` act. Over the ground the DiT drew
        there, grass where that is not ground a player stands on."""
        t = self.tiles
        r0, c0 = t.centre
        box = self._tile_box(r0, c0)
        self.player_drawn[:] = 0
        for i in np.flatnonzero(~drawn_asleep):
            want, k = f"player-{SIDE[tuple(facing[i])]}", templates[i, r0, c0]
            if t.object[k] == want:
                continue
            ground = t.ground[k] if f"{want}/{t.ground[k]}" in t.index else "grass"
            frames[(i, *box)] = self.lit_tile(ground, want, float(daylight[i]))
            templates[i, r0, c0], self.player_drawn[i] = t.index[f"{want}/{ground}"], 1

    def draw_effects(self, frames: np.ndarray, templates: np.ndarray, prev_templates: np.ndarray,
                     effect: np.ndarray, facing: np.ndarray, daylight: np.ndarray,
                     drawn_asleep: np.ndarray) -> None:
        """Draw, in `frames` and `templates`, what the player's own `do` or `place_*` made of the
        tile it faces (`effect` (n,), the template it becomes, -1 none) where the DiT did not: the
        chopped tree's grass, the placed table, the sapling, the ground of an eaten cow. The DiT
        rarely draws its own effect (a random player's chopped tree stayed a tree in 26 of 27 dream
        steps), and a tree that stays gives wood without end. `do` and `place_*` do not move the
        view, so the faced tile is where it was in `prev_templates`."""
        t = self.tiles
        (r0, c0), self.effects[:] = t.centre, 0
        for i in np.flatnonzero((effect >= 0) & ~drawn_asleep):
            dx, dy = facing[i]
            r, c, k = r0 + dy, c0 + dx, int(effect[i])
            now, was = templates[i, r, c], t.object[prev_templates[i, r, c]]
            # a creature or arrow may come onto the freed ground in the same step (not the one killed)
            arrived = not t.object[k] and t.object[now] not in ("", was) and t.ground[now] == t.ground[k]
            if now == k or arrived:
                continue
            frames[(i, *self._tile_box(r, c))] = self.template_tile(k, float(daylight[i]))
            templates[i, r, c], self.effects[i] = k, 1

    def template_tile(self, k: int, daylight: float) -> np.ndarray:
        """(unit, unit, 3) uint8: template k's tile lit at `daylight` (see `lit_tile`)."""
        return self.lit_tile(self.tiles.ground[k], self.tiles.object[k], daylight)

    def lit_tile(self, ground: str, obj: str, daylight: float) -> np.ndarray:
        """(unit, unit, 3) uint8: `obj`'s texture (none: "") over `ground`'s, lit at `daylight` as
        crafter's `LocalView._light` does, without the night grain (random in the game too)."""
        p, u = self.parser, self.parser.unit
        tile = np.full((u, u, 3), 127, np.uint8)  # outside the world crafter leaves grey 127
        if ground != "void":
            engine._draw(tile, (0, 0), p.textures.get(ground, (u, u)))
        if obj:
            engine._draw_alpha(tile, (0, 0), p.textures.get(obj, (u, u)))
        tile = tile.transpose(1, 0, 2).astype(np.float64)  # crafter draws [x, y]
        night = 0.5 * (0.6 * (tile @ LUMA)[..., None] + 0.4 * tile) + 0.5 * NIGHT_TINT
        return (daylight * tile + (1 - daylight) * night).astype(np.uint8)

    def draw_inventory(self, frames: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """`frames` (n, H, W, 3) with the inventory rows redrawn from `counts` (n, 16), exactly as
        crafter's `Env.render` draws them."""
        p, out = self.parser, np.array(frames, copy=True)
        bx, by = p.view_origin
        top = by + p.rows * p.unit
        for i in range(len(counts)):
            inv = dict(zip(INVENTORY_ITEMS, counts[i].tolist(), strict=True))
            rows = self.items_view(inv, np.array([p.unit, p.unit])).transpose(1, 0, 2)  # crafter draws [x, y]
            out[i, top : top + rows.shape[0], bx : bx + rows.shape[1]] = rows
        return out

    def draw_asleep(self, frame: np.ndarray, templates: np.ndarray, daylight: float) -> np.ndarray:
        """An awake `frame` (H, W, 3) as crafter draws a sleeper's: the sleeping texture on the centre
        tile (lit at the frame's `daylight`, without the night grain) over the ground `templates`
        (rows, cols) shows there, then the view grey at half luma plus a blue tint
        (`engine.LocalView._sleep`). The inventory rows stay as they are."""
        p, u = self.parser, self.parser.unit
        bx, by = p.view_origin
        out = frame.copy()
        r0, c0 = self.tiles.centre
        ground = self.tiles.ground[templates[r0, c0]]
        out[self._tile_box(r0, c0)] = self.lit_tile(ground, "player-sleep", daylight)
        box = slice(by, by + p.rows * u), slice(bx, bx + p.cols * u)
        view = out[box].astype(np.int64)
        grey = ((view @ np.array([19595, 38470, 7471]) + 32768) >> 16)[..., None]  # PIL's "L", rounded as PIL
        out[box] = (0.5 * grey + 0.5 * SLEEP_TINT).astype(np.uint8)
        return out
