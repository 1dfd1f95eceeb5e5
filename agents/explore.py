"""A scripted, stochastic Crafter policy for collecting world-model training data.

`ExplorePolicy.act(info)` reads only the info dict of `CrafterEnv` (privileged state such as the
whole-world `semantic` map is fine: this is data collection, not an agent to evaluate) and returns
a crafter action id. Each step it takes the first rule that applies:

1. Fight: a zombie or skeleton on a 4-neighbour tile is faced and hit; skeletons within 4 tiles
   are hunted, or, when hurt (health <= 5), it backs away from them and zombies. Danger comes
   before noise.
2. With probability `epsilon`, a uniformly random action (all 17, useless ones included, for
   coverage), except that it never walks into lava nor falls asleep outdoors in the dark, and
   not while a bunker plan (rule 4) is under way.
3. While asleep: noop (crafter ignores actions until the player wakes up).
4. Sleep when energy is low (<= 2, or < 8 at night), but walled in: close the last
   gap with a stone, step to a spot that one stone closes, or build a 2x2 bunker from 8 stones
   (a fixed 15-step plan); with a pickaxe and too few stones it mines stone first. Sleeps in the
   open only when exhausted (energy <= 1) and no zombie is near.
5. Craft whatever tool is missing and affordable when a table (and furnace) is within reach.
6. Place: a table when none is near, a furnace next to a table, saplings on grass, and now and
   then a spare stone.
7. Needs: drink water when thirsty, hunt cows when hungry, eat its own plants once ripe
   (with hysteresis: keeps at it until nearly full).
8. Progress: gather what the next tools need: wood, then stone and coal (wood pickaxe), iron
   (stone pickaxe), diamond (iron pickaxe); walk back to a table to craft.
9. Explore with momentum: keep a direction for 3-10 steps, then pick a new one biased toward
   less visited regions; pick at grass now and then for saplings.

Navigation: the nearest target within `radius` tiles (Manhattan) in `semantic`; step greedily
along the longer axis, else the other; when both are blocked, dig through trees/stone, bridge
water with stone, or take a random free step. Adjacent targets are faced (a move into a blocked
tile only turns the player) and then `do`ne. A goal that makes no progress for 12 steps is
ignored for 30. Deterministic for a given seed (all randomness from one np.random.Generator).
"""

from __future__ import annotations

import crafter
import numpy as np

from worldenv.games.crafter.env import PLAYER_MOVES

NOOP, LEFT, RIGHT, UP, DOWN, DO, SLEEP = range(7)
PLACE_STONE, PLACE_TABLE, PLACE_FURNACE, PLACE_PLANT = 7, 8, 9, 10
TOOLS = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword", "iron_pickaxe", "iron_sword")
MAKE = {name: crafter.constants.actions.index(f"make_{name}") for name in TOOLS}
N_ACTIONS = len(crafter.constants.actions)
MOVES = {move: action for action, move in PLAYER_MOVES.items()}  # (dx, dy) -> action: left, right, up, down
DIRS = tuple(MOVES)

# Semantic ids as crafter's SemanticView numbers them: 0 = none, materials 1.., then objects.
MAT = {name: i + 1 for i, name in enumerate(crafter.constants.materials)}
OBJ = {name: len(MAT) + 1 + i for i, name in enumerate(("player", "cow", "zombie", "skeleton", "arrow", "plant"))}
WALKABLE = [MAT[m] for m in crafter.constants.walkable]  # grass, sand, path (lava deliberately left out)
OPEN = WALKABLE + [OBJ[o] for o in ("cow", "zombie", "skeleton", "arrow")]  # where zombies can walk
PLACE_ON = {k: [MAT[m] for m in v["where"]] for k, v in crafter.constants.place.items()}
COST = {k: v["uses"] for k, v in {**crafter.constants.place, **crafter.constants.make}.items()}
NEEDS = {k: v["nearby"] for k, v in crafter.constants.make.items()}
MINE = {"tree": None, "stone": "wood_pickaxe", "coal": "wood_pickaxe", "iron": "stone_pickaxe",
        "diamond": "iron_pickaxe"}
# A 2x2 pocket walled in by 8 stones on open ground (shortest plan, found by breadth-first search):
# "P" places a stone on the faced tile, (dx, dy) moves. Written for a player facing down, rotated.
BUNKER = ("P", (-1, 0), "P", (1, 0), "P", (0, -1), "P", (-1, 0), "P", (0, 1), "P", (0, -1), "P", (1, 0), "P")
POCKET = 4  # an open area of at most this many tiles counts as walled in


class ExplorePolicy:
    """Scripted explorer; see the module docstring for its priorities."""

    def __init__(self, seed: int | None = None, epsilon: float = 0.15, radius: int = 8):
        self.seed, self.epsilon, self.radius = seed, float(epsilon), int(radius)
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the episode's memory (visits, plants, goals, plan); the RNG stream continues."""
        self.t = 0
        self.visits: np.ndarray | None = None
        self.heading, self.heading_left = DIRS[0], 0
        self.plants: dict[tuple[int, int], int] = {}  # tile -> step planted
        self.ignore: dict[str, int] = {}  # goal -> step until which it is ignored
        self.goal, self.goal_best, self.goal_since = None, 0, 0
        self.plan: list[tuple[int, np.ndarray]] = []  # (action, where the player must stand)
        self.thirsty = self.hungry = False

    def _tile(self, p) -> int:
        x, y = int(p[0]), int(p[1])
        return int(self.sem[x, y]) if 0 <= x < self.sem.shape[0] and 0 <= y < self.sem.shape[1] else -1

    def _free(self, p) -> bool:
        return self._tile(p) in WALKABLE

    def _ahead(self, d) -> np.ndarray:
        return self.pos + np.array(d)

    def _has(self, item: str) -> bool:
        return all(self.inv[k] >= v for k, v in COST[item].items())

    def _near(self, name: str, r: int) -> bool:
        x, y = self.pos
        return bool((self.sem[max(x - r, 0):x + r + 1, max(y - r, 0):y + r + 1] == MAT[name]).any())

    def _find(self, ids, r: int | None = None) -> np.ndarray:
        """Positions (N, 2) of the tiles with an id in `ids` within r tiles (Manhattan), the player's excluded."""
        x, y, r = int(self.pos[0]), int(self.pos[1]), self.radius if r is None else r
        x0, y0 = max(x - r, 0), max(y - r, 0)
        hits = np.argwhere(np.isin(self.sem[x0:x + r + 1, y0:y + r + 1], ids)) + (x0, y0)
        dist = np.abs(hits - self.pos).sum(1)
        return hits[(dist > 0) & (dist <= r)]

    def _region(self, start, wall=None) -> int:
        """Size of the open area around `start` (as zombies could walk it), counted up to POCKET + 1."""
        seen, todo = {tuple(int(v) for v in start)}, [tuple(int(v) for v in start)]
        wall, me = None if wall is None else tuple(int(v) for v in wall), tuple(int(v) for v in self.pos)
        while todo and len(seen) <= POCKET:
            x, y = todo.pop()
            for p in ((x + dx, y + dy) for dx, dy in DIRS):
                if p not in seen and p != wall and (self._tile(p) in OPEN or p == me):
                    seen.add(p)
                    todo.append(p)
        return len(seen)

    def _face_do(self, d, act: int = DO) -> int:
        """Face direction d (a move into a blocked tile only turns), then act."""
        return act if tuple(self.facing) == tuple(d) else MOVES[tuple(d)]

    def _random_move(self) -> int:
        free = [d for d in DIRS if self._free(self._ahead(d))]
        return MOVES[free[self.rng.integers(len(free))]] if free else NOOP

    def _goto(self, name: str, targets: np.ndarray) -> int | None:
        """Walk to the nearest of `targets`, face it and `do`; None if there is none (or it is ignored)."""
        if self.ignore.get(name, -1) > self.t or len(targets) == 0:
            return None
        off = targets[int(np.abs(targets - self.pos).sum(1).argmin())] - self.pos
        dist = int(np.abs(off).sum())
        if name != self.goal or dist < self.goal_best:
            self.goal, self.goal_best, self.goal_since = name, dist, self.t
        elif self.t - self.goal_since > 12:  # no progress: unreachable for now
            self.ignore[name], self.goal = self.t + 30, None
            return None
        if dist == 1:
            return self._face_do(tuple(int(v) for v in off))
        dirs = [(int(np.sign(off[0])), 0), (0, int(np.sign(off[1])))]  # longer axis first
        if abs(off[1]) > abs(off[0]) or (abs(off[0]) == abs(off[1]) and self.rng.random() < 0.5):
            dirs.reverse()
        dirs = [d for d in dirs if d != (0, 0)]
        for d in dirs:
            if self._free(self._ahead(d)):
                return MOVES[d]
        for d in dirs:  # both blocked: dig or bridge through
            tile = self._tile(self._ahead(d))
            if any(tile == MAT[m] and (tool is None or self.inv[tool] > 0) for m, tool in MINE.items()):
                return self._face_do(d)
            if tile == MAT["water"] and self.inv["stone"] > 0:
                return self._face_do(d, PLACE_STONE)
        return self._random_move()

    def _explore(self) -> int:
        if self.heading_left <= 0 or not self._free(self._ahead(self.heading)):
            self._new_heading()
        self.heading_left -= 1
        p_pick = 0.5 if self.inv["sapling"] == 0 and not self.plants else 0.05
        if self._tile(self._ahead(self.facing)) == MAT["grass"] and self.rng.random() < p_pick:
            return DO  # 10% chance of a sapling
        ahead = self._tile(self._ahead(self.heading))
        if ahead == MAT["lava"]:
            return self._random_move()
        if ahead == MAT["tree"] or (ahead == MAT["stone"] and self.inv["wood_pickaxe"]):
            return self._face_do(self.heading)  # walled in: dig out
        return MOVES[self.heading]

    def _new_heading(self) -> None:
        (w, h), (x, y) = self.visits.shape, self.pos
        scores = []
        for dx, dy in DIRS:  # mean visits over a 9x8 box ahead; off-map counts as well visited
            xs = np.arange(1, 9) * dx + x if dx else np.arange(-4, 5) + x
            ys = np.arange(1, 9) * dy + y if dy else np.arange(-4, 5) + y
            inside = ((xs >= 0) & (xs < w))[:, None] & ((ys >= 0) & (ys < h))[None]
            v = self.visits[np.clip(xs, 0, w - 1)][:, np.clip(ys, 0, h - 1)]
            scores.append(np.where(inside, v, 20.0).mean())
        weight = np.exp(-np.array(scores)) * [1.0 if self._free(self._ahead(d)) else 0.05 for d in DIRS]
        self.heading = DIRS[self.rng.choice(4, p=weight / weight.sum())]
        self.heading_left = int(self.rng.integers(3, 11))

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
        asleep, dark = info.get("sleeping", False), info.get("daylight", 1.0) < 0.5
        action = None if asleep else self._fight()
        if action is not None:
            return action
        if self.rng.random() < self.epsilon and not self.plan:
            action = int(self.rng.integers(N_ACTIONS))
            into_lava = action in (LEFT, RIGHT, UP, DOWN) and self._tile(self._ahead(DIRS[action - 1])) == MAT["lava"]
            unsafe_sleep = action == SLEEP and dark and self._region(self.pos) > POCKET
            return NOOP if into_lava or unsafe_sleep else action
        return NOOP if asleep else self._decide(info)

    def _fight(self) -> int | None:
        for d in DIRS:
            if self._tile(self._ahead(d)) in (OBJ["zombie"], OBJ["skeleton"]):
                return self._face_do(d)
        if self.inv["health"] > 5:
            return self._goto("skeleton", self._find([OBJ["skeleton"]], 4))
        threats = self._find([OBJ["zombie"], OBJ["skeleton"]], 4)
        if len(threats) == 0:
            return None
        gap = {d: np.abs(threats - self._ahead(d)).sum(1).min() for d in DIRS if self._free(self._ahead(d))}
        best = max(gap, key=gap.get, default=None)
        return MOVES[best] if best is not None and gap[best] > np.abs(threats - self.pos).sum(1).min() else None

    def _sleep(self) -> int | None:
        """An action toward sleeping walled in; None when there is no safe way (yet)."""
        inv, ahead = self.inv, self._ahead(self.facing)
        if self._region(self.pos) <= POCKET:
            self.plan = []
            return SLEEP
        if self.plan:
            action, at = self.plan.pop(0)
            if (at == self.pos).all():
                return action
            self.plan = []  # knocked off the plan: think again
        if inv["stone"] and self._tile(ahead) in OPEN and self._region(self.pos, ahead) <= POCKET:
            return PLACE_STONE
        for d in DIRS:  # one step to a spot that one stone closes off
            y = self._ahead(d)
            if self._free(y) and (inv["stone"] or self._tile(y + d) not in OPEN) and self._region(y, y + d) <= POCKET:
                return MOVES[d]
        self.plan = self._bunker()
        if self.plan:
            return self.plan.pop(0)[0]
        if inv["energy"] <= 1 and len(self._find([OBJ["zombie"]], 6)) == 0:
            return SLEEP
        return self._goto("stone", self._find([MAT["stone"]], 2 * self.radius)) if inv["wood_pickaxe"] else None

    def _bunker(self) -> list[tuple[int, np.ndarray]]:
        """BUNKER rotated to the current facing, if the ground allows it and there are stones enough."""
        fx, fy = self.facing
        pos, face, plan, need = self.pos.copy(), np.array(self.facing), [], 0
        for step in BUNKER:
            if step == "P":
                tile = self._tile(pos + face)
                if tile in OPEN and tile not in WALKABLE:
                    return []  # a creature in the way
                need += tile in PLACE_ON["stone"]
                plan.append((PLACE_STONE, pos))
            else:
                d = np.array((step[0] * fy + step[1] * fx, step[1] * fy - step[0] * fx))
                if not (self._free(pos + d) or (pos + d == self.pos).all()):
                    return []
                plan.append((MOVES[tuple(int(v) for v in d)], pos))
                pos, face = pos + d, d
        return plan if need <= self.inv["stone"] else []

    def _decide(self, info: dict) -> int:
        inv, rng = self.inv, self.rng
        front = self._tile(self._ahead(self.facing))
        if inv["energy"] <= 2 or (info.get("daylight", 1.0) < 0.3 and inv["energy"] < 8):
            action = self._sleep()  # 4. sleep
            if action is not None:
                return action
        self.plan = []
        for item in TOOLS:  # 5. craft
            if inv[item] == 0 and self._has(item) and all(self._near(n, 1) for n in NEEDS[item]):
                return MAKE[item]
        if not self._near("table", self.radius) and self._has("table") and front in PLACE_ON["table"]:
            return PLACE_TABLE  # 6. place
        if (inv["stone_pickaxe"] and not self._near("furnace", self.radius) and self._near("table", 2)
                and inv["stone"] >= COST["furnace"].get("stone", 0) + 2 and front in PLACE_ON["furnace"]):
            return PLACE_FURNACE
        if inv["sapling"] and front == MAT["grass"] and rng.random() < 0.5:
            self.plants[tuple(int(v) for v in self._ahead(self.facing))] = self.t
            return PLACE_PLANT
        if inv["stone"] > 8 and front in PLACE_ON["stone"] and rng.random() < (0.3 if front != MAT["grass"] else 0.05):
            return PLACE_STONE
        return self._pursue()

    def _pursue(self) -> int:
        inv, r = self.inv, self.radius
        self.plants = {p: t for p, t in self.plants.items() if self._tile(p) == OBJ["plant"]}
        ripe = np.array([p for p, t in self.plants.items() if self.t - t > 320], np.int64).reshape(-1, 2)
        craftable = [k for k in TOOLS if inv[k] == 0 and self._has(k)]
        wood_need = COST["table"]["wood"] * (not self._near("table", r)) + sum(inv[k] == 0 for k in TOOLS) + 1
        wanted = {
            "water": self.thirsty, "plant": len(ripe) > 0, "cow": self.hungry,  # 7. needs
            "table": bool(craftable), "furnace": any("furnace" in NEEDS[k] for k in craftable),  # 8. progress
            "tree": inv["wood"] < min(wood_need, 9),
            "stone": inv["wood_pickaxe"] and inv["stone"] < 8,  # enough for a furnace or a bunker
            "coal": inv["wood_pickaxe"] and inv["coal"] < 2,
            "iron": inv["stone_pickaxe"] and inv["iron"] < 2,
            "diamond": inv["iron_pickaxe"] > 0,
        }
        for name in (n for n, w in wanted.items() if w):
            if name == "plant":
                targets = ripe
            else:
                targets = self._find([MAT.get(name, OBJ.get(name))], 2 * r if name in ("water", "cow") else r)
            action = self._goto(name, targets)
            if action is not None:
                return action
        return self._explore()  # 9. explore
