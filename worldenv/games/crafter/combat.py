"""Fights in a Crafter dream by the game's rules: the player's hits on creatures, and, as an
option, the creatures' attacks on the player.

A creature's health is not drawn, so the player's `do` hits are counted while the same kind of
creature stands in front (cow 3, zombie 5, skeleton 3 health; the sword the player holds sets the
damage, as in `objects.Player._do_object`).

With `attacks` (off by default) the creatures the DiT draws also hurt by the game's rules: a
zombie next to the player hits for 2 (7 on a sleeper) and then rests 5 steps, an arrow that flies
into the player hits for 2, and a step into lava ends the dream. The DiT moves the creatures but
almost never draws the hit: from episode openings a random player stood next to a zombie in a
quarter of its dream steps and lost no health at all in 3200 steps, while the game took 61 health
per 1000 steps: a dream without harm is another game. Yet PPO trained with the attacks scored
lower in the real game (2.19 and 2.03 % against 2.46 to 2.87 % without; docs/design.md, "The
game's rules in the dream"): the DiT draws four times the game's zombies next to the player, so the harm
comes from another place than the game's. Hence off by default.
"""

from __future__ import annotations

import numpy as np

from worldenv.games.crafter.common import FACING, IS_MOVE, SIDE, ViewTiles
from worldenv.games.crafter.counters import INDEX

CREATURE_HEALTH = {"cow": 3, "zombie": 5, "skeleton": 3}


class CreatureCombat:
    """Hits between each of `n` Crafter players and the creatures the dream draws (see module
    docstring). `hits`/`hit_kind`: the player's hits on the kind of creature in front since it came
    there; with `attacks`, `attacked` the damage the creatures dealt in the last step,
    `zombie_cooldown` the rest of the zombie next to the player, `into_lava` the players who walked
    into lava this step."""

    def __init__(self, n: int, tiles: ViewTiles, attacks: bool = False):
        self.n, self.tiles, self.attacks = n, tiles, attacks
        self.hits = np.zeros(n, np.int64)
        self.hit_kind = [""] * n
        self.zombie_cooldown = np.zeros(n, np.int64)  # Zombie.cooldown, of the one next to the player
        self.attacked = np.zeros(n, np.int64)
        self.into_lava = np.zeros(n, bool)

    def reset(self, rows: list) -> None:
        """Players `rows` start afresh: no hits counted, no zombie resting."""
        for r in rows:
            self.hits[r], self.hit_kind[r] = 0, ""
        self.zombie_cooldown[rows], self.attacked[rows], self.into_lava[rows] = 0, 0, False

    def face(self, i: int, obj: str) -> None:
        """Player i faces `obj` ("" for none): hits count anew when another kind stands in front."""
        if obj != self.hit_kind[i]:
            self.hits[i], self.hit_kind[i] = 0, obj

    def hit(self, i: int, obj: str, counts: np.ndarray) -> bool:
        """Player i, holding `counts` (16,), hits the creature `obj` in front: whether it dies."""
        damage = max(1, 2 * bool(counts[INDEX["wood_sword"]]), 3 * bool(counts[INDEX["stone_sword"]]),
                     5 * bool(counts[INDEX["iron_sword"]]))
        self.hits[i] += damage
        if self.hits[i] < CREATURE_HEALTH[obj]:
            return False
        self.hits[i] = 0
        return True

    def walk_onto(self, i: int, target: int) -> None:
        """Player i moves toward the tile of template `target`: with `attacks`, a step into lava
        (crafter's `Player.walkable` lets the player in) ends the game."""
        t = self.tiles
        self.into_lava[i] = self.attacks and t.ground[target] == "lava" and not t.object[target]

    def strike(self, new: np.ndarray, old: np.ndarray, drawn_asleep: np.ndarray, sleeping: np.ndarray,
               actions: np.ndarray) -> np.ndarray:
        """(n,) damage the game's creatures deal this step (zeros without `attacks`), by
        `Zombie.update` and `Arrow.update`: a zombie drawn next to the player (up, down, left or
        right) in the new frame's `new` templates hits for 2, or 7 while the player sleeps, unless it
        rests from its last hit (5 steps, counted while it is next to the player); an arrow that
        pointed at the player from the next tile in the last frame (`old`) flies into it for 2,
        unless the player stepped away first (the game updates the player first; a move in
        `actions` is taken as a step away). Frames the DiT drew asleep are not read."""
        self.attacked = np.zeros(self.n, np.int64)
        if not self.attacks:
            return self.attacked
        (r0, c0), obj = self.tiles.centre, self.tiles.object
        for i in np.flatnonzero(~drawn_asleep):
            stayed = sleeping[i] or not IS_MOVE[actions[i]]
            for dx, dy in FACING.values():
                if stayed and obj[old[i, r0 - dy, c0 - dx]] == f"arrow-{SIDE[(dx, dy)]}":
                    self.attacked[i] += 2
            if any(obj[new[i, r0 + dy, c0 + dx]] == "zombie" for dx, dy in FACING.values()):
                if self.zombie_cooldown[i]:
                    self.zombie_cooldown[i] -= 1
                else:
                    self.attacked[i] += 7 if sleeping[i] else 2
                    self.zombie_cooldown[i] = 5
        return self.attacked
