"""A scripted, stochastic Crafter policy for collecting world-model training data.

`ExplorePolicy.act(info)` reads only the info dict of `CrafterEnv` (privileged state such as
the whole-world `semantic` map is fine: this is data collection, not an agent to evaluate) and
returns a crafter action id. Each step it takes the first rule that applies:

1. With probability `epsilon`, a uniformly random action (all 17, useless ones included, for
   coverage), except that it never walks into lava nor falls asleep outdoors in the dark.
2. While asleep: noop (crafter ignores actions until the player wakes up).
3. Fight: a zombie or skeleton on a 4-neighbour tile is faced and hit; when hurt, back away
   from ones a few tiles off. (Danger comes before rule 1's noise.)
4. Sleep when energy is low (<= 2), or sometimes at night when it is not full; first a stone
   goes on the faced tile as a makeshift wall if there is one to spare.
5. Craft whatever is missing and affordable when a table (and furnace) is within reach:
   wood/stone/iron pickaxe and sword.
6. Place: a table when none is near and there is wood, a furnace next to a table, saplings on
   grass, and now and then stone (on water, lava or grass).
7. Needs: drink water when thirsty, hunt cows when hungry, eat its own plants once ripe
   (hysteresis: keeps at it until nearly full).
8. Progress: gather what the next tools need: wood, then stone and coal (wood pickaxe), iron
   (stone pickaxe), diamond (iron pickaxe); walk back to a table to craft.
9. Explore with momentum: keep a direction for 3-10 steps, then pick a new one biased toward
   less visited regions; pick at grass now and then for saplings.

Navigation: the nearest target within `radius` tiles (Manhattan) in `semantic`; step greedily
along the longer axis, else the other; when both are blocked, dig through trees/stone, bridge
water with stone, or take a random free step. Adjacent targets are faced (a move into a blocked
tile only turns the player) and then `do`ne. A goal that makes no progress for a while is
ignored for a few dozen steps. Deterministic for a given seed.
"""

from __future__ import annotations

import crafter
import numpy as np

NOOP, LEFT, RIGHT, UP, DOWN, DO, SLEEP = range(7)
PLACE_STONE, PLACE_TABLE, PLACE_FURNACE, PLACE_PLANT = 7, 8, 9, 10
MAKE = {"wood_pickaxe": 11, "stone_pickaxe": 12, "iron_pickaxe": 13,
        "wood_sword": 14, "stone_sword": 15, "iron_sword": 16}
N_ACTIONS = len(crafter.constants.actions)
MOVES = {(-1, 0): LEFT, (1, 0): RIGHT, (0, -1): UP, (0, 1): DOWN}
DIRS = tuple(MOVES)

# Semantic ids as crafter's SemanticView numbers them: 0 = none, materials 1.., then objects.
MAT = {name: i + 1 for i, name in enumerate(crafter.constants.materials)}
OBJ = {name: len(MAT) + 1 + i for i, name in enumerate(("player", "cow", "zombie", "skeleton", "arrow", "plant"))}
WALKABLE = [MAT[m] for m in crafter.constants.walkable]  # grass, sand, path (lava deliberately left out)
OPEN = WALKABLE + [OBJ[o] for o in ("cow", "zombie", "skeleton", "arrow")]  # where zombies may come from
PLACE_ON = {k: [MAT[m] for m in v["where"]] for k, v in crafter.constants.place.items()}
COST = {k: v["uses"] for k, v in {**crafter.constants.place, **crafter.constants.make}.items()}
NEEDS = {k: v["nearby"] for k, v in crafter.constants.make.items()}
MINE = {"tree": None, "stone": "wood_pickaxe", "coal": "wood_pickaxe", "iron": "stone_pickaxe",
        "diamond": "iron_pickaxe"}


class ExplorePolicy:
    """Scripted explorer; see the module docstring for its priorities."""

    def __init__(self, seed: int | None = None, epsilon: float = 0.15, radius: int = 8):
        self.seed, self.epsilon, self.radius = seed, float(epsilon), int(radius)
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the episode's memory (visits, plants, goals); the RNG stream continues."""
        self.t = 0
        self.visits: np.ndarray | None = None
        self.heading, self.heading_left = DIRS[0], 0
        self.plants: dict[tuple[int, int], int] = {}  # tile -> step planted
        self.ignore: dict[str, int] = {}  # goal -> step until which it is ignored
        self.goal, self.goal_best, self.goal_since = None, 0, 0
        self.thirsty = self.hungry = False

    # ---------------------------------------------------------------- helpers
    def _tile(self, p) -> int:
        x, y = int(p[0]), int(p[1])
        w, h = self.sem.shape
        return int(self.sem[x, y]) if 0 <= x < w and 0 <= y < h else -1

    def _free(self, p) -> bool:
        return self._tile(p) in WALKABLE

    def _ahead(self, d) -> np.ndarray:
        return self.pos + np.array(d)

    def _has(self, item: str) -> bool:
        return all(self.inv[k] >= v for k, v in COST[item].items())

    def _near(self, name: str, r: int) -> bool:
        x, y = self.pos
        return bool((self.sem[max(x - r, 0):x + r + 1, max(y - r, 0):y + r + 1] == MAT[name]).any())

    def _face_do(self, d, act: int = DO) -> int:
        """Face direction d (a move into a blocked tile only turns), then act."""
        return act if tuple(self.facing) == tuple(d) else MOVES[tuple(d)]

    def _random_action(self, daylight: float) -> int:
        """Uniform over all actions, but never into lava nor to sleep outdoors in the dark."""
        a = int(self.rng.integers(N_ACTIONS))
        if a in (LEFT, RIGHT, UP, DOWN) and self._tile(self._ahead(DIRS[a - 1])) == MAT["lava"]:
            return NOOP
        if a == SLEEP and daylight < 0.5 and self._region(self.pos) > 4:
            return NOOP
        return a

    def _random_move(self) -> int:
        free = [d for d in DIRS if self._free(self._ahead(d))]
        return MOVES[free[self.rng.integers(len(free))]] if free else NOOP

    def _find(self, ids, r: int | None = None) -> np.ndarray:
        """Positions (N, 2) of the tiles with an id in `ids` within r tiles (Manhattan), the player's excluded."""
        x, y, r = int(self.pos[0]), int(self.pos[1]), self.radius if r is None else r
        x0, y0 = max(x - r, 0), max(y - r, 0)
        hits = np.argwhere(np.isin(self.sem[x0:x + r + 1, y0:y + r + 1], ids)) + (x0, y0)
        dist = np.abs(hits - self.pos).sum(1)
        return hits[(dist > 0) & (dist <= r)]

    # ------------------------------------------------------------- navigation
    def _goto(self, name: str, targets: np.ndarray, onto: bool = False) -> int | None:
        """Walk to the nearest of `targets`, then face it and `do` (or step `onto` it); None if none."""
        if self.ignore.get(name, -1) > self.t or len(targets) == 0:
            return None
        target = targets[int(np.abs(targets - self.pos).sum(1).argmin())]
        off = target - self.pos
        dist = int(np.abs(off).sum())
        if name != self.goal or dist < self.goal_best:
            self.goal, self.goal_best, self.goal_since = name, dist, self.t
        elif self.t - self.goal_since > 12:  # no progress: unreachable for now
            self.ignore[name], self.goal = self.t + 30, None
            return None
        if dist == 1:
            return MOVES[tuple(int(v) for v in off)] if onto else self._face_do(tuple(int(v) for v in off))
        axes = [0, 1] if abs(off[0]) > abs(off[1]) or (abs(off[0]) == abs(off[1]) and self.rng.random() < 0.5) \
            else [1, 0]
        dirs = [tuple(int(np.sign(off[a])) if b == a else 0 for b in (0, 1)) for a in axes if off[a] != 0]
        for d in dirs:
            if self._free(self._ahead(d)):
                return MOVES[d]
        for d in dirs:  # both blocked: dig or bridge through
            tile = self._tile(self._ahead(d))
            for mat, tool in MINE.items():
                if tile == MAT[mat] and (tool is None or self.inv[tool] > 0):
                    return self._face_do(d)
            if tile == MAT["water"] and self.inv["stone"] > 0:
                return self._face_do(d, PLACE_STONE)
        return self._random_move()

    def _region(self, start, wall=None, cap: int = 4) -> int:
        """Size of the open area around `start` (as a zombie could walk it), counting at most cap + 1."""
        seen, todo = {tuple(int(v) for v in start)}, [tuple(int(v) for v in start)]
        wall = None if wall is None else tuple(int(v) for v in wall)
        me = tuple(int(v) for v in self.pos)  # the player's own tile is open too
        while todo and len(seen) <= cap:
            x, y = todo.pop()
            for dx, dy in DIRS:
                p = (x + dx, y + dy)
                if p not in seen and p != wall and (self._tile(p) in OPEN or p == me):
                    seen.add(p)
                    todo.append(p)
        return len(seen)

    def _sleep(self) -> int | None:
        """Sleep walled in: block the last gap with stone, dig a 2-tile pocket into rock, or (when
        exhausted, with no zombie near) anywhere. None: no safe way yet, carry on."""
        inv, ahead = self.inv, self._ahead(self.facing)
        if self._region(self.pos) <= 4:
            return SLEEP
        if inv["stone"] and self._tile(ahead) in OPEN and self._region(self.pos, ahead) <= 4:
            return PLACE_STONE
        for d in DIRS:  # one step to a spot that one stone closes off
            y = self._ahead(d)
            z = y + d
            if self._free(y) and (inv["stone"] or self._tile(z) not in OPEN) and self._region(y, z) <= 4:
                return MOVES[d]
        if inv["energy"] <= 1 and len(self._find([OBJ["zombie"]], 6)) == 0:
            return SLEEP
        if not inv["wood_pickaxe"]:
            return None
        f, stone = self.facing, MAT["stone"]
        if self._tile(ahead) == stone and self._walled(self.pos, f):
            return DO  # dig on
        if self._tile(ahead) == MAT["path"] and self._tile(ahead + f) == stone and self._walled(ahead, f):
            return MOVES[f]  # step into the tunnel
        return self._goto("dig", self._burrows())

    def _walled(self, p, d) -> bool:
        """Whether both tiles beside p, across direction d, are closed to zombies."""
        return all(self._tile(np.asarray(p) + s * np.array((d[1], d[0]))) not in OPEN for s in (1, -1))

    def _burrows(self) -> np.ndarray:
        """Rock faces to dig a 2-tile pocket into: stone with one open side and stone behind it."""
        spots = []
        for t in self._find([MAT["stone"]], 2 * self.radius):
            opens = [np.array(d) for d in DIRS if self._tile(t + d) in OPEN]
            if len(opens) == 1 and self._tile(t - opens[0]) == MAT["stone"] and self._walled(t - opens[0], opens[0]) \
                    and self._tile(t - 2 * opens[0]) not in OPEN:
                spots.append(t)
        return np.array(spots, np.int64).reshape(-1, 2)

    def _explore(self) -> int:
        front = self._ahead(self.heading)
        if self.heading_left <= 0 or not self._free(front):
            self._new_heading()
        self.heading_left -= 1
        tile = self._tile(self._ahead(self.facing))
        p_pick = 0.5 if self.inv["sapling"] == 0 and not self.plants else 0.05
        if tile == MAT["grass"] and self.rng.random() < p_pick:
            return DO  # 10% chance of a sapling
        ahead = self._tile(self._ahead(self.heading))
        if ahead == MAT["lava"]:
            return self._random_move()
        if ahead in (MAT["tree"], MAT["stone"]) and (ahead == MAT["tree"] or self.inv["wood_pickaxe"]):
            return self._face_do(self.heading)  # walled in: dig out
        return MOVES[self.heading]

    def _new_heading(self) -> None:
        (w, h), (x, y) = self.visits.shape, self.pos
        scores = []
        for dx, dy in DIRS:  # mean visits over a 9x8 box ahead; off-map counts as well visited
            xs = np.clip(np.arange(1, 9) * dx + x if dx else np.arange(-4, 5) + x, -1, w)
            ys = np.clip(np.arange(1, 9) * dy + y if dy else np.arange(-4, 5) + y, -1, h)
            inside = (xs[:, None] >= 0) & (xs[:, None] < w) & (ys[None] >= 0) & (ys[None] < h)
            v = self.visits[np.clip(xs, 0, w - 1)][:, np.clip(ys, 0, h - 1)]
            scores.append(np.where(inside, v, 20.0).mean())
        weight = np.exp(-np.array(scores)) * [1.0 if self._free(self._ahead(d)) else 0.05 for d in DIRS]
        self.heading = DIRS[self.rng.choice(4, p=weight / weight.sum())]
        self.heading_left = int(self.rng.integers(3, 11))

    # ----------------------------------------------------------------- policy
    def act(self, info: dict) -> int:
        """The action id (0..16) for the state described by CrafterEnv's `info` dict."""
        self.t += 1
        self.sem, self.inv = info["semantic"], info["inventory"]
        self.pos, self.facing = np.asarray(info["player_pos"], dtype=np.int64), tuple(info["facing"])
        if self.visits is None or self.visits.shape != self.sem.shape:
            self.visits = np.zeros(self.sem.shape, np.float32)
        self.visits[tuple(self.pos)] += 1
        self.thirsty = self.inv["drink"] <= 5 or (self.thirsty and self.inv["drink"] < 9)
        self.hungry = self.inv["food"] <= 5 or (self.hungry and self.inv["food"] < 8)
        if not info.get("sleeping", False):
            action = self._fight()
            if action is not None:
                return action
        if self.rng.random() < self.epsilon:
            return self._random_action(info.get("daylight", 1.0))
        if info.get("sleeping", False):
            return NOOP
        return self._decide(info)

    def _fight(self) -> int | None:
        """Hit an adjacent zombie/skeleton; when hurt, back away from ones a few tiles off."""
        for d in DIRS:
            if self._tile(self._ahead(d)) in (OBJ["zombie"], OBJ["skeleton"]):
                return self._face_do(d)
        threats = self._find([OBJ["zombie"], OBJ["skeleton"]], 4)
        if self.inv["health"] > 5 or len(threats) == 0:
            return None
        gap = {d: np.abs(threats - self._ahead(d)).sum(1).min() for d in DIRS if self._free(self._ahead(d))}
        best = max(gap, key=gap.get, default=None)
        return MOVES[best] if best is not None and gap[best] > np.abs(threats - self.pos).sum(1).min() else None

    def _decide(self, info: dict) -> int:
        inv, rng = self.inv, self.rng
        front = self._tile(self._ahead(self.facing))
        night = info.get("daylight", 1.0) < 0.3
        if inv["energy"] <= 2 or (night and inv["energy"] < 8):
            action = self._sleep()  # 4. sleep
            if action is not None:
                return action
        for item in ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword", "iron_pickaxe", "iron_sword"):
            if inv[item] == 0 and self._has(item) and all(self._near(n, 1) for n in NEEDS[item]):
                return MAKE[item]  # 5. craft
        if not self._near("table", self.radius) and self._has("table") and front in PLACE_ON["table"]:
            return PLACE_TABLE  # 6. place
        if (inv["stone_pickaxe"] and not self._near("furnace", self.radius) and self._near("table", 2)
                and inv["stone"] >= COST["furnace"].get("stone", 0) + 2 and front in PLACE_ON["furnace"]):
            return PLACE_FURNACE
        if inv["sapling"] and front == MAT["grass"] and rng.random() < 0.5:
            self.plants[tuple(int(v) for v in self._ahead(self.facing))] = self.t
            return PLACE_PLANT
        if inv["stone"] > 5 and front in PLACE_ON["stone"] and rng.random() < (0.3 if front != MAT["grass"] else 0.02):
            return PLACE_STONE
        return self._pursue()

    def _pursue(self) -> int:
        inv = self.inv
        self.plants = {p: t for p, t in self.plants.items() if self._tile(p) == OBJ["plant"]}
        goals = []
        if self.thirsty:  # 7. needs
            goals.append(("water", [MAT["water"]]))
        if any(self.t - t > 320 for t in self.plants.values()):
            goals.append(("plant", [OBJ["plant"]]))
        if self.hungry:
            goals.append(("cow", [OBJ["cow"]]))
        missing = [k for k in ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword",
                               "iron_pickaxe", "iron_sword") if inv[k] == 0]
        craftable = [k for k in missing if self._has(k)]
        if craftable and self._near("table", self.radius):  # 8. progress
            goals.append(("table", [MAT["table"]]))
        if any("furnace" in NEEDS[k] for k in craftable) and self._near("furnace", self.radius):
            goals.append(("furnace", [MAT["furnace"]]))
        wood_need = COST["table"]["wood"] * (not self._near("table", self.radius)) + len(missing) + 1
        if inv["wood"] < min(wood_need, 9):
            goals.append(("tree", [MAT["tree"]]))
        if inv["wood_pickaxe"]:
            if inv["stone"] < 5 + COST["furnace"].get("stone", 0) * (not self._near("furnace", self.radius)):
                goals.append(("stone", [MAT["stone"]]))
            if inv["coal"] < 2:
                goals.append(("coal", [MAT["coal"]]))
        if inv["stone_pickaxe"] and inv["iron"] < 2:
            goals.append(("iron", [MAT["iron"]]))
        if inv["iron_pickaxe"]:
            goals.append(("diamond", [MAT["diamond"]]))
        for name, ids in goals:
            r = 2 * self.radius if name in ("water", "cow") else self.radius
            targets = self._find(ids, r)
            if name == "plant":
                targets = np.array([p for p, t in self.plants.items() if self.t - t > 320], np.int64).reshape(-1, 2)
            action = self._goto(name, targets)
            if action is not None:
                return action
        return self._explore()  # 9. explore
