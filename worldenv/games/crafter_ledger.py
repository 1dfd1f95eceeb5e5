"""Keep a Crafter dream's items by the game's rules, and draw them the way the game does.

The DiT draws a whole frame, inventory rows included, and what it draws there can be wrong: a
wood that no tree gave, a sword that a refused craft drew. A policy trained in the dream finds and
farms those errors (README, Results, stop 21). But the items are not a picture to guess. They
are counts that change only by the player's own attempts, under rules that crafter ships as data
(`crafter.constants`: collect, place, make). So the `InventoryLedger` keeps the 12 item counts
(sapling .. iron_sword) of each dream as state and applies the rules to what the dream shows:

- the target of `do` and `place_*` is the tile the player faces in the last frame (read with
  `CrafterFrameParser`, whose templates also tell the facing and a ripe plant); the facing
  follows the last move, as in the game, including moves the game refuses;
- `make_*` needs a table (and a furnace) among the 3x3 tiles around the player in that frame;
- creatures take `do` hits by the sword the ledger holds (cow 3, zombie 5, skeleton 3 health);
- grass gives a sapling with the game's probability, drawn from the ledger's generator;
- while the frame shows the player asleep, actions do nothing (the game makes them `sleep`).

Each new frame's inventory rows are then redrawn with crafter's own `ItemView`: the 4 vitals as
the DiT drew them (read back, 0..9), the items from the ledger. The env hands the redrawn frame
back to the rollout, so the context the DiT reads holds the same inventory the agent sees.
Every attempt that the rules pass is an achievement event (`collect_wood`, `place_table`, ...;
`wake_up` when the dream stops showing sleep), which is what the dream pays reward for.

The game's hidden state is not all here: the health of a creature hit before the dream started,
how ripe a plant is beyond its texture, and the vitals, which stay the DiT's.
"""

from __future__ import annotations

import numpy as np
from crafter import constants, engine
from threadpoolctl import threadpool_limits

from worldenv.games.crafter_parse import INVENTORY_ITEMS, CrafterFrameParser

ACTIONS: tuple[str, ...] = tuple(constants.actions)
ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)  # the events `InventoryLedger.step` names
VITALS = 4  # health, food, drink, energy: the first four inventory slots, drawn by the DiT
_FACING = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}  # (dx, dy)
_CREATURE_HEALTH = {"cow": 3, "zombie": 5, "skeleton": 3}
_CREATURE_EVENT = {"cow": "eat_cow", "zombie": "defeat_zombie", "skeleton": "defeat_skeleton"}
_MAX = np.array([constants.items[k]["max"] for k in INVENTORY_ITEMS])
_INDEX = {name: i for i, name in enumerate(INVENTORY_ITEMS)}


class InventoryLedger:
    """Item counts of `n` Crafter dreams, kept by the game's rules (see module docstring).

    `size` is the frames' (width, height), `view` crafter's tile view. Call `reset(rows, frames,
    actions)` with each dream's start clip, then `step(actions, frames)` with the DiT's new frames:
    it returns them with the inventory redrawn and keeps `events` (the achievements of the step).
    """

    def __init__(self, n: int, size: tuple[int, int] = (72, 72), view: tuple[int, int] = (9, 9), seed: int = 0):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.parser = CrafterFrameParser(size=size, view=view)
        p = self.parser
        self.n = n
        self.counts = np.zeros((n, len(INVENTORY_ITEMS)), np.int64)
        self.facing = np.tile(np.array(_FACING["down"]), (n, 1))  # crafter's player starts facing down
        self.hits = np.zeros(n, np.int64)  # do hits on creatures of the kind in front, since it came there
        self.hit_kind = [""] * n
        self.prev_templates = np.zeros((n, p.rows, p.cols), np.int64)
        self.prev_sleeping = np.zeros(n, bool)
        self.events: list[list[str]] = [[] for _ in range(n)]
        self.rngs = [np.random.default_rng(seed + i) for i in range(n)]  # one per dream, like the rollout's
        self._items_view = engine.ItemView(p._textures, (p.cols, p.item_rows))
        names = p.template_names
        self._object = [n.split("/")[0] if "/" in n else "" for n in names]  # texture drawn over the ground
        self._ground = [n.split("/")[-1] for n in names]
        self._centre = (p.rows // 2, p.cols // 2)  # (row, col) of the player in the local view

    # ------------------------------------------------------------------ state
    def reset(self, rows, frames: np.ndarray, actions: np.ndarray | None = None) -> None:
        """Start dreams `rows` from the last frames of their start clips: `frames` (len(rows), k, H,
        W, 3) uint8 and the actions into them (len(rows), k) or (len(rows), k, 1), -1 for none. The
        items are read off the last frame, the facing from its player texture (asleep, from the
        clip's last move; down, as the game starts, without one)."""
        rows = list(rows)
        frames = np.asarray(frames)
        if frames.ndim != 5 or len(frames) != len(rows) or frames.shape[2:] != self.parser.frame_shape:
            raise ValueError(f"start clips must be ({len(rows)}, k, *{self.parser.frame_shape}) uint8, "
                             f"got {frames.shape}")
        last = frames[:, -1]
        with threadpool_limits(1, user_api="blas"):  # see step()
            self.counts[rows] = self.parser.inventory(last)
            templates, sleeping = self.parser.templates(last)
        moves = np.full(len(rows), -1) if actions is None else np.asarray(actions).reshape(len(rows), -1)
        for j, r in enumerate(rows):
            last_move = [ACTIONS[a] for a in moves[j] if 0 <= a < len(ACTIONS) and ACTIONS[a].startswith("move_")]
            self.facing[r] = self._player_facing(templates[j], last_move[-1] if last_move else "move_down")
            self.hits[r], self.hit_kind[r] = 0, ""
            self.events[r] = []
        self.prev_templates[rows], self.prev_sleeping[rows] = templates, sleeping

    @property
    def achievements(self) -> list[str]:
        """Every achievement name `events` can hold (crafter's 22)."""
        return list(ACHIEVEMENTS)

    def seed(self, seeds: list[int]) -> None:
        """Seed each dream's draws (a sapling from grass): one seed per dream."""
        if len(seeds) != self.n:
            raise ValueError(f"need {self.n} seeds, got {len(seeds)}")
        self.rngs = [np.random.default_rng(int(s)) for s in seeds]

    def _player_facing(self, templates: np.ndarray, last_move: str) -> np.ndarray:
        """(dx, dy) the player texture at the centre faces, else the direction of `last_move`."""
        name = self._object[templates[self._centre]]
        side = name[len("player-"):] if name.startswith("player-") else ""
        return np.array(_FACING[side] if side in _FACING else _FACING[last_move[len("move_"):]])

    # ------------------------------------------------------------------ rules
    def _apply(self, i: int, action: str, templates: np.ndarray, asleep: bool) -> list[str]:
        """Apply `action` of dream i against its last frame's `templates`; returns its events."""
        c = self.counts[i]
        if asleep:
            return []  # the game turns every action into sleep until the player wakes
        if action.startswith("move_"):
            self.facing[i] = _FACING[action[len("move_"):]]
            return []
        (r0, c0), (dx, dy) = self._centre, self.facing[i]
        target = templates[r0 + dy, c0 + dx]
        obj, ground = self._object[target], self._ground[target]
        if obj != self.hit_kind[i]:  # a creature's health is hidden: count hits while the same kind is in front
            self.hits[i], self.hit_kind[i] = 0, obj
        if action == "do":
            return self._do(i, obj, ground)
        if action.startswith("place_"):
            name = action[len("place_"):]
            info = constants.place[name]
            if obj or ground not in info["where"] or not self._has(c, info["uses"]):
                return []
            self._use(c, info["uses"])
            return [f"place_{name}"]
        if action.startswith("make_"):
            name = action[len("make_"):]
            info = constants.make[name]
            near = {self._ground[k] for k in templates[r0 - 1 : r0 + 2, c0 - 1 : c0 + 2].ravel()}
            # crafter's quirk: on the world's left or top edge its nearby() slice is empty
            at_edge = "void" in (self._ground[templates[r0, c0 - 1]], self._ground[templates[r0 - 1, c0]])
            if at_edge or not set(info["nearby"]) <= near or not self._has(c, info["uses"]):
                return []
            self._use(c, info["uses"])
            c[_INDEX[name]] += info["gives"]
            return [f"make_{name}"]
        return []  # noop, sleep (the DiT draws sleep; `wake_up` is read from the frames)

    def _do(self, i: int, obj: str, ground: str) -> list[str]:
        c = self.counts[i]
        if obj in _CREATURE_HEALTH:
            damage = max(1, 2 * bool(c[_INDEX["wood_sword"]]), 3 * bool(c[_INDEX["stone_sword"]]),
                         5 * bool(c[_INDEX["iron_sword"]]))
            self.hits[i] += damage
            if self.hits[i] < _CREATURE_HEALTH[obj]:
                return []
            self.hits[i] = 0
            return [_CREATURE_EVENT[obj]]
        if obj == "plant-ripe":
            return ["eat_plant"]
        if obj:  # the player, an arrow, an unripe plant: nothing to take
            return []
        info = constants.collect.get(ground)
        if info is None or not self._has(c, info["require"]):
            return []
        if self.rngs[i].uniform() > info.get("probability", 1):
            return []
        for name, amount in info["receive"].items():
            if _INDEX[name] >= VITALS:  # drink is a vital: the DiT draws it
                c[_INDEX[name]] += amount
        return [f"collect_{name}" for name in info["receive"]]

    @staticmethod
    def _has(c: np.ndarray, uses: dict) -> bool:
        return all(c[_INDEX[k]] >= v for k, v in uses.items())

    @staticmethod
    def _use(c: np.ndarray, uses: dict) -> None:
        for k, v in uses.items():
            c[_INDEX[k]] -= v

    # ------------------------------------------------------------------ stepping
    def step(self, actions, frames: np.ndarray) -> np.ndarray:
        """Apply `actions` (n,) or (n, 1) to the ledger and redraw the inventory rows of the new
        frames (n, H, W, 3) uint8; returns the redrawn frames. `events[i]` then holds dream i's
        achievements of this step."""
        a = np.asarray(actions, np.int64).reshape(-1)
        frames = np.asarray(frames)
        if len(a) != self.n or frames.shape != (self.n, *self.parser.frame_shape):
            raise ValueError(f"need {self.n} actions and frames of shape ({self.n}, *{self.parser.frame_shape}), "
                             f"got {a.shape} and {frames.shape}")
        if ((a < 0) | (a >= len(ACTIONS))).any():
            raise ValueError(f"Crafter actions must be in [0, {len(ACTIONS)}), got {a.tolist()}")
        # numpy's BLAS threads keep spinning after a call and halve torch's speed on a 2-core
        # machine (a dream step went from 24 to 50 ms): the parser's small products get one thread.
        with threadpool_limits(1, user_api="blas"):
            templates, sleeping = self.parser.templates(frames)
            vitals = self.parser.inventory(frames)[:, :VITALS]
        for i in range(self.n):
            # A player who wakes acts in the same step (the game wakes it first); one still asleep does not.
            woke = bool(self.prev_sleeping[i] and not sleeping[i])
            self.events[i] = self._apply(i, ACTIONS[a[i]], self.prev_templates[i], bool(sleeping[i] and self.prev_sleeping[i]))
            if woke:
                self.events[i].append("wake_up")
        np.minimum(self.counts, _MAX, out=self.counts)
        self.counts[:, :VITALS] = vitals
        out = self.draw(frames)
        self.prev_templates, self.prev_sleeping = templates, sleeping
        return out

    def draw(self, frames: np.ndarray) -> np.ndarray:
        """`frames` (n, H, W, 3) with the inventory rows redrawn from the ledger's counts, exactly
        as crafter's `Env.render` draws them."""
        p, out = self.parser, np.array(frames, copy=True)
        bx, by = p._border
        top = by + p.rows * p.unit
        for i in range(self.n):
            inv = dict(zip(INVENTORY_ITEMS, self.counts[i].tolist(), strict=True))
            rows = self._items_view(inv, np.array([p.unit, p.unit])).transpose(1, 0, 2)  # crafter draws [x, y]
            out[i, top : top + rows.shape[0], bx : bx + rows.shape[1]] = rows
        return out
