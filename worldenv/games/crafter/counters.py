"""A Crafter player's counts: the inventory and the hidden counters that move it.

The inventory is 16 counts (health, food, drink, energy, materials and tools). Food, drink and
energy fall and rise on hidden counters (crafter's `Player._update_life_stats`: hunger, thirst,
fatigue), health on a fourth (`_degen_or_regen_health`: recover), and the player may sleep.
`PlayerCounters` keeps these per dream and moves them as the game's code does. The counters'
values are not drawn; a dream started from a clip reads them off the counts' changes along it
(`replay`, docs/design.md, "The game's rules in the dream").
"""

from __future__ import annotations

import numpy as np
from crafter import constants

from worldenv.games.crafter.parse import INVENTORY_ITEMS

MAX = np.array([constants.items[k]["max"] for k in INVENTORY_ITEMS])  # each count's cap
INDEX = {name: i for i, name in enumerate(INVENTORY_ITEMS)}
HEALTH, FOOD, DRINK, ENERGY = (INDEX[k] for k in ("health", "food", "drink", "energy"))


class PlayerCounters:
    """The inventory `counts` (n, 16), the hidden `hunger`, `thirst`, `fatigue` and `recover`
    counters (n,), `sleeping` (n,) and the health after the player's last own update
    (`last_health`) of `n` Crafter players, moved by the game's `objects.Player` code."""

    def __init__(self, n: int):
        self.counts = np.zeros((n, len(INVENTORY_ITEMS)), np.int64)
        self.hunger, self.thirst, self.fatigue = np.zeros(n), np.zeros(n), np.zeros(n)
        self.recover = np.zeros(n)
        self.last_health = np.zeros(n, np.int64)
        self.sleeping = np.zeros(n, bool)

    def reset(self, rows: list, counts: np.ndarray, asleep: np.ndarray) -> None:
        """Players `rows` as their start clips end: `counts` (len(rows), k, 16) and `asleep`
        (len(rows), k) read off each frame; the hidden counters replayed along the clips."""
        self.counts[rows] = counts[:, -1]
        self.replay(rows, counts, asleep)
        self.last_health[rows] = self.counts[rows, HEALTH]
        self.sleeping[rows] = asleep[:, -1]

    def replay(self, rows: list, counts: np.ndarray, asleep: np.ndarray) -> None:
        """Set players `rows`' hidden counters (hunger, thirst, fatigue, recover) by running the game's
        `_update_life_stats` and `_degen_or_regen_health` along their start clips: `counts`
        (len(rows), k, 16) and `asleep` (len(rows), k) read off each frame. A counter's phase is
        unknown at a clip's start (0 there, as at an episode's) and is known from the step its count
        changes: the game sets hunger to 0 when food changes (it rolls over, or the player eats),
        thirst with drink, fatigue with energy, recover with a health step of one. A dream started
        from a long prompt then falls asleep and wakes when the game would (without this, the dream
        and the game disagreed on sleep at 20 of 48 first losses of step with the game over 128
        steps; docs/design.md). Recover stays unknown at full health, where its roll-over shows
        nothing.

        The game updates these after the step's sleep changes: a player who lies down counts the
        step asleep, one who wakes rested (energy full at the step's start) awake, and one woken by
        a hit at the step's end asleep. So a step counts asleep where the frame after it shows the
        sleeper, or the frame before it did with energy short of full; and its health check reads
        the counts after the step (the game's `_degen_or_regen_health` runs after the life stats).
        One rare step is counted awake though the game counted it asleep: lying down and being hit
        in the same step, which both frames show awake."""
        for j, r in enumerate(rows):
            hunger = thirst = fatigue = recover = 0.0
            for t in range(1, counts.shape[1]):
                was, now = counts[j, t - 1], counts[j, t]
                slept = bool(asleep[j, t]) or (bool(asleep[j, t - 1]) and was[ENERGY] < MAX[ENERGY])
                hunger += 0.5 if slept else 1
                thirst += 0.5 if slept else 1
                fatigue = min(fatigue - 1, 0) if slept else fatigue + 1
                fine = now[FOOD] > 0 and now[DRINK] > 0 and (now[ENERGY] > 0 or slept)
                recover += (2 if slept else 1) if fine else (-0.5 if slept else -1)
                hunger = 0 if now[FOOD] != was[FOOD] else min(hunger, 25)
                thirst = 0 if now[DRINK] != was[DRINK] else min(thirst, 20)
                fatigue = 0 if now[ENERGY] != was[ENERGY] else min(max(fatigue, -10), 30)
                recover = 0 if abs(int(now[HEALTH]) - int(was[HEALTH])) == 1 else min(max(recover, -15), 25)
            self.hunger[r], self.thirst[r] = hunger, thirst
            self.fatigue[r], self.recover[r] = fatigue, recover

    def has(self, i: int, uses: dict) -> bool:
        """Player i holds every item of `uses` (name: amount)."""
        return all(self.counts[i, INDEX[k]] >= v for k, v in uses.items())

    def use(self, i: int, uses: dict) -> None:
        """Player i spends `uses` (name: amount)."""
        for k, v in uses.items():
            self.counts[i, INDEX[k]] -= v

    def wakes(self) -> np.ndarray:
        """(n,) bool: sleepers whose energy is full wake at the start of the step (the game's order)."""
        return self.sleeping & (self.counts[:, ENERGY] >= MAX[ENERGY])

    def lie_down(self, i: int) -> None:
        """Player i's `sleep`: it sleeps unless rested (energy full)."""
        self.sleeping[i] |= self.counts[i, ENERGY] < MAX[ENERGY]

    def life(self) -> None:
        """Crafter's `Player._update_life_stats` for every player: the hidden counters move food,
        drink and energy (a sleeper's hunger and thirst at half speed, its fatigue down)."""
        c, asleep = self.counts, self.sleeping
        self.hunger += np.where(asleep, 0.5, 1)
        over = self.hunger > 25
        self.hunger[over], c[over, FOOD] = 0, c[over, FOOD] - 1
        self.thirst += np.where(asleep, 0.5, 1)
        over = self.thirst > 20
        self.thirst[over], c[over, DRINK] = 0, c[over, DRINK] - 1
        self.fatigue[:] = np.where(asleep, np.minimum(self.fatigue - 1, 0), self.fatigue + 1)
        rested, tired = self.fatigue < -10, self.fatigue > 30
        self.fatigue[rested | tired] = 0
        c[:, ENERGY] += rested.astype(np.int64) - tired

    def update_health(self) -> np.ndarray:
        """(n,) health after the players' own update this step (`_degen_or_regen_health`): the last
        step's health, one up or down by the hidden recover counter. The game wakes a sleeper whose
        health, after this update, is below what it was after the last one (`_wake_up_when_hurt`;
        no achievement): damage dealt after the player's update shows one step later, unless the
        regeneration of that step makes up for it."""
        c = self.counts
        fine = (c[:, FOOD] > 0) & (c[:, DRINK] > 0) & ((c[:, ENERGY] > 0) | self.sleeping)
        self.recover += np.where(fine, np.where(self.sleeping, 2, 1), np.where(self.sleeping, -0.5, -1))
        up, down = self.recover > 25, self.recover < -15
        self.recover[up | down] = 0
        updated = np.clip(c[:, HEALTH] + up - down, 0, MAX[HEALTH])
        self.sleeping &= ~(updated < self.last_health)
        self.last_health = updated
        return updated

    def clip(self) -> None:
        """Every count within the game's bounds (0 to its max)."""
        np.clip(self.counts, 0, MAX, out=self.counts)
