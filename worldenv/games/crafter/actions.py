"""What a Crafter player's attempts do by the game's rules, read off the frame the dream shows.

Crafter ships its rules as data (`crafter.constants`: collect, place, make) and code
(`objects.Player`). `ActionRules` applies them to what a dream shows:

- the target of `do` and `place_*` is the tile the player faces in the last frame (read with
  `CrafterFrameParser`, whose templates also tell the facing and a ripe plant); the facing
  follows the last move, as in the game, including moves the game refuses;
- `make_*` needs a table (and a furnace) among the 3x3 tiles around the player in that frame;
- creatures take `do` hits by the sword the player holds (`CreatureCombat`);
- grass gives a sapling with the game's probability, drawn from each dream's generator;
- `sleep` with energy below 9 puts the player to sleep.

Every attempt the rules pass is an achievement event (`collect_wood`, `place_table`, ...), and
what it makes of the faced tile (a chopped tree leaves grass, a placed table stands) is kept in
`effect` for the dream to draw where the DiT did not.
"""

from __future__ import annotations

import numpy as np
from crafter import constants

from worldenv.games.crafter.combat import CreatureCombat
from worldenv.games.crafter.common import ACTIONS, FACING, IS_MOVE, ViewTiles
from worldenv.games.crafter.counters import FOOD, INDEX, PlayerCounters
from worldenv.games.crafter.row_seeds import reseed_rows

CREATURE_EVENT = {"cow": "eat_cow", "zombie": "defeat_zombie", "skeleton": "defeat_skeleton"}


class ActionRules:
    """The attempts of `n` Crafter players by the game's rules (see module docstring), on their
    `counters` and, for hits on creatures, `combat`. Per player: `facing` (dx, dy), `effect` the
    template the faced tile becomes by the last step's attempt (-1: none) and `rngs` the
    generator of the game's random draws (a sapling from grass), seeded `seed + i`."""

    def __init__(self, n: int, tiles: ViewTiles, counters: PlayerCounters, combat: CreatureCombat,
                 seed: int = 0):
        self.tiles, self.counters, self.combat = tiles, counters, combat
        self.facing = np.tile(np.array(FACING["down"]), (n, 1))  # crafter's player starts facing down
        self.effect = np.full(n, -1)
        self.rngs = [np.random.default_rng(seed + i) for i in range(n)]  # one per dream, like the rollout's

    def reset(self, rows: list, templates: np.ndarray, moves: np.ndarray, seeds=None) -> None:
        """Players `rows` as their start clips end: the facing from the player texture of the last
        view's `templates` (len(rows), rows, cols), else (asleep) from the clip's last move in
        `moves` (len(rows), k), -1 none; down, as the game starts, without one. `seeds` (one per
        row) reseed those players' draws; without them the draws go on."""
        reseed_rows(self.rngs, rows, seeds)
        for j, r in enumerate(rows):
            last_move = [ACTIONS[a] for a in moves[j] if 0 <= a < len(ACTIONS) and IS_MOVE[a]]
            self.facing[r] = self._player_facing(templates[j], last_move[-1] if last_move else "move_down")

    def _player_facing(self, templates: np.ndarray, last_move: str) -> np.ndarray:
        """(dx, dy) the player texture at the centre faces, else the direction of `last_move`."""
        name = self.tiles.object[templates[self.tiles.centre]]
        side = name[len("player-"):] if name.startswith("player-") else ""
        return np.array(FACING[side] if side in FACING else FACING[last_move[len("move_"):]])

    def step(self, actions: np.ndarray, templates: np.ndarray) -> list[list[str]]:
        """Apply each awake player's action (`actions` (n,)) against its last frame's `templates`
        (n, rows, cols); returns each player's events (none for a sleeper, whose actions are all
        `sleep`, which changes nothing)."""
        self.effect[:] = -1
        return [[] if self.counters.sleeping[i] else self.apply(i, ACTIONS[a], templates[i])
                for i, a in enumerate(actions)]

    def apply(self, i: int, action: str, templates: np.ndarray) -> list[str]:
        """Apply `action` of player i against its last frame's `templates`; returns its events."""
        t, counters = self.tiles, self.counters
        (r0, c0) = t.centre
        if action.startswith("move_"):
            self.facing[i] = dx, dy = FACING[action[len("move_"):]]
            self.combat.walk_onto(i, templates[r0 + dy, c0 + dx])
            return []
        if action == "sleep":
            counters.lie_down(i)
            return []
        dx, dy = self.facing[i]
        target = templates[r0 + dy, c0 + dx]
        obj, ground = t.object[target], t.ground[target]
        self.combat.face(i, obj)  # even a noop: a creature's hits count while it stays in front
        if action == "do":
            return self._do(i, obj, ground)
        c = counters.counts[i]
        if action.startswith("place_"):
            name = action[len("place_"):]
            info = constants.place[name]
            if obj or ground not in info["where"] or not counters.has(i, info["uses"]):
                return []
            counters.use(i, info["uses"])
            self.effect[i] = t.index[name if info["type"] == "material" else f"{name}/{ground}"]
            return [f"place_{name}"]
        if action.startswith("make_"):
            name = action[len("make_"):]
            info = constants.make[name]
            near = {t.ground[k] for k in templates[r0 - 1 : r0 + 2, c0 - 1 : c0 + 2].ravel()}
            # crafter's quirk: on the world's left or top edge its nearby() slice is empty
            at_edge = "void" in (t.ground[templates[r0, c0 - 1]], t.ground[templates[r0 - 1, c0]])
            if at_edge or not set(info["nearby"]) <= near or not counters.has(i, info["uses"]):
                return []
            counters.use(i, info["uses"])
            c[INDEX[name]] += info["gives"]
            return [f"make_{name}"]
        return []  # noop

    def _do(self, i: int, obj: str, ground: str) -> list[str]:
        """`do` of player i at the faced tile: `obj` drawn over `ground`."""
        t, counters = self.tiles, self.counters
        c = counters.counts[i]
        if obj in CREATURE_EVENT:
            if not self.combat.hit(i, obj, c):
                return []
            self.effect[i] = t.index[ground]  # the game removes the creature in the same step
            if obj == "cow":
                c[FOOD] += 6
                counters.hunger[i] = 0
            return [CREATURE_EVENT[obj]]
        if obj == "plant-ripe":
            c[FOOD] += 4
            self.effect[i] = t.index[f"plant/{ground}"]  # eaten, the plant starts to grow again
            return ["eat_plant"]
        if obj:  # the player, an arrow, an unripe plant: nothing to take
            return []
        if ground == "water":
            counters.thirst[i] = 0
        info = constants.collect.get(ground)
        if info is None or not counters.has(i, info["require"]):
            return []
        if info["leaves"] != ground:  # a tree leaves grass, stone and ores a path (before the draw)
            self.effect[i] = t.index[info["leaves"]]
        if self.rngs[i].uniform() > info.get("probability", 1):
            return []
        for name, amount in info["receive"].items():
            c[INDEX[name]] += amount
        return [f"collect_{name}" for name in info["receive"]]
