"""Keep a Crafter dream's player state by the game's rules, and draw it the way the game does.

The DiT draws a whole frame, inventory rows included, and what it draws there can be wrong: a
wood that no tree gave, a sword that a refused craft drew. A policy trained in the dream finds and
farms those errors (README, Results, stop 21). But the inventory is not a picture to guess. It
is 16 counts that change by the player's own attempts and a few hidden counters, under rules that
crafter ships as data (`crafter.constants`: collect, place, make) and code (`objects.Player`). So
the `InventoryLedger` keeps, per dream, the counts, the hidden hunger, thirst, fatigue and
recover counters, and whether the player sleeps, and applies the rules to what the dream shows:

- the target of `do` and `place_*` is the tile the player faces in the last frame (read with
  `CrafterFrameParser`, whose templates also tell the facing and a ripe plant); the facing
  follows the last move, as in the game, including moves the game refuses;
- the player is drawn on the centre tile facing that way where the DiT drew it facing another
  (which it does at random) or not at all;
- `make_*` needs a table (and a furnace) among the 3x3 tiles around the player in that frame;
- creatures take `do` hits by the sword the ledger holds (cow 3, zombie 5, skeleton 3 health);
- grass gives a sapling with the game's probability, drawn from each dream's generator;
- food, drink and energy fall and rise on the game's counters; `sleep` with energy below 9 puts
  the player to sleep, every action is then ignored until energy is full again (`wake_up`) or
  health drops;
- with `keep_terrain`, what an attempt the rules pass makes of the faced tile is drawn where the
  DiT did not draw it: a chopped tree leaves grass, mined stone a path, a placed table stands, a
  killed cow is gone. The DiT seldom draws its own effects, and a tree that stays gives wood
  without end (the `TerrainKeeper` then keeps the rest of the view by the rules, and a
  `WorldMemory` the materials seen before where a step brings them back into view).

Health follows the game's regeneration and starvation (the hidden recover counter) less the
damage the DiT draws; with `attacks` (off by default) also the game's attacks of the creatures
the DiT draws: a zombie next to the player hits for 2 (7 on a sleeper) and then rests 5 steps, an arrow that flies into the player hits for 2, and a step into
lava ends the dream. The DiT moves the creatures but almost never draws the hit: from episode
openings a random player stood next to a zombie in a quarter of its dream steps and lost no
health at all in 3200 steps, while the game took 61 health per 1000 steps: a dream without harm
is another game. Damage the DiT does draw counts where it is more than the rules'. Yet PPO
trained with the attacks scored lower in the real game (2.19 and 2.03 % against 2.46 to 2.87 %
without, README Results, stop 26): the DiT draws four times the game's zombies next to the
player, so the harm comes from another place than the game's. Hence off by default. At 0 health
the dream is over (`dead`), as the game is.

Sleep is drawn here, not by the DiT: the DiT is told `noop` while the player sleeps or lies down
and keeps dreaming the awake world, and the frame the agent sees is that frame as crafter draws
a sleeper's view (the player's sleeping texture, then the view grey and tinted). The DiT, which
once asleep had no way back to colour, never has to draw waking up.

`step` redraws the inventory rows with crafter's own `ItemView` and returns two frames per dream:
the awake frame, which `DreamRollout` encodes into the context, and the frame the agent sees.
Every attempt the rules pass is an achievement event (`collect_wood`, `place_table`, ...), which
is what the dream pays reward for. Not kept: a creature's health from hits before it stood in
front, how ripe a plant is beyond its texture, and the counters' values before a dream started
(they start at 0, as at the start of an episode).
"""

from __future__ import annotations

import numpy as np
from crafter import constants, engine
from threadpoolctl import threadpool_limits

from worldenv.games.crafter.daylight import CrafterClock
from worldenv.games.crafter.memory import WorldMemory
from worldenv.games.crafter.parse import (
    INVENTORY_ITEMS,
    LUMA,
    NIGHT_TINT,
    SLEEP_TINT,
    CrafterFrameParser,
    template_parts,
)
from worldenv.games.crafter.terrain import TerrainKeeper
from worldenv.games.crafter.row_seeds import reseed_rows

ACTIONS: tuple[str, ...] = tuple(constants.actions)
ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)  # the events `InventoryLedger.step` names
NOOP, SLEEP = ACTIONS.index("noop"), ACTIONS.index("sleep")
_FACING = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}  # (dx, dy)
_SIDE = {v: k for k, v in _FACING.items()}
_CREATURE_HEALTH = {"cow": 3, "zombie": 5, "skeleton": 3}
_CREATURE_EVENT = {"cow": "eat_cow", "zombie": "defeat_zombie", "skeleton": "defeat_skeleton"}
_MAX = np.array([constants.items[k]["max"] for k in INVENTORY_ITEMS])
_INDEX = {name: i for i, name in enumerate(INVENTORY_ITEMS)}
HEALTH, FOOD, DRINK, ENERGY = (_INDEX[k] for k in ("health", "food", "drink", "energy"))


class InventoryLedger:
    """The player state of `n` Crafter dreams, kept by the game's rules (see module docstring).

    `size` is the frames' (width, height), `view` crafter's tile view. Per step: `model_actions`
    turns the player's actions into the ones the DiT is given, then `step` (also `__call__`, the
    `DreamRollout` overlay) takes the DiT's new frames and returns (context frames, shown frames);
    `events` then holds each dream's achievements of the step, `attacked` the damage the game's
    creatures dealt by the rules (with `attacks`; and, with `keep_terrain`, `restored`
    the tiles the keeper put back, `effects` whether the faced tile was drawn by the rules).
    `reset` starts dreams from clips. With `keep_daylight` the day and night follow the game's clock
    (`CrafterClock`): the DiT is given and dreams day looks, shown darkened by the clock.
    """

    def __init__(self, n: int, size: tuple[int, int] = (72, 72), view: tuple[int, int] = (9, 9), seed: int = 0,
                 keep_terrain: bool = False, attacks: bool = False, keep_daylight: bool = False):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.parser = CrafterFrameParser(size=size, view=view)
        p = self.parser
        self.n = n
        self.counts = np.zeros((n, len(INVENTORY_ITEMS)), np.int64)
        self.hunger, self.thirst, self.fatigue = np.zeros(n), np.zeros(n), np.zeros(n)  # crafter's hidden counters
        self.recover = np.zeros(n)
        self.health_change = np.zeros(n, np.int64)  # of the last step
        self.dead = np.zeros(n, bool)
        self.attacks = attacks  # zombies, arrows and lava hurt by the rules (off: only as the DiT draws)
        self.zombie_cooldown = np.zeros(n, np.int64)  # crafter's Zombie.cooldown, of the one next to the player
        self.attacked = np.zeros(n, np.int64)  # damage the rules dealt in the last step (zombies, arrows)
        self._into_lava = np.zeros(n, bool)
        self.last_health = np.zeros(n, np.int64)  # health after the player's last update
        self.sleeping = np.zeros(n, bool)
        self.facing = np.tile(np.array(_FACING["down"]), (n, 1))  # crafter's player starts facing down
        self.hits = np.zeros(n, np.int64)  # do hits on creatures of the kind in front, since it came there
        self.hit_kind = [""] * n
        self.prev_templates = np.zeros((n, p.rows, p.cols), np.int64)
        self.events: list[list[str]] = [[] for _ in range(n)]
        self.rngs = [np.random.default_rng(seed + i) for i in range(n)]  # one per dream, like the rollout's
        self._actions: np.ndarray | None = None  # the player's actions of the step in progress
        self._items_view = engine.ItemView(p.textures, (p.cols, p.item_rows))
        names = p.template_names
        self._object, self._ground = template_parts(names)  # the texture drawn over the ground, the ground
        self._centre = (p.rows // 2, p.cols // 2)  # (row, col) of the player in the local view
        # keep_terrain: put back the tiles the DiT changed against the rules (crafter_terrain.py)
        self.terrain = TerrainKeeper(names, p.rows, p.cols, p.unit, p.view_origin) if keep_terrain else None
        self.memory = WorldMemory(n, names, p.rows, p.cols) if keep_terrain else None  # crafter_memory.py
        self.restored = np.zeros(n, np.int64)  # tiles the terrain keeper put back in the last step
        self.prev_frames = np.zeros((n, *p.frame_shape), np.uint8)
        self._model_actions: np.ndarray | None = None
        self._moved: np.ndarray | None = None
        self.prev_drawn_asleep = np.zeros(n, bool)
        self._class = {name: k for k, name in enumerate(names)}
        self._effect = np.full(n, -1)  # the template the faced tile becomes by this step's action, -1: none
        self.effects = np.zeros(n, np.int64)  # faced tiles drawn by the rules in the last step
        self.player_drawn = np.zeros(n, np.int64)  # 1 where the last step drew the player's facing
        self.clock = CrafterClock(n, size, view, parser=p, seed=seed) if keep_daylight else None

    @property
    def achievements(self) -> list[str]:
        """Every achievement name `events` can hold (crafter's 22)."""
        return list(ACHIEVEMENTS)

    # ------------------------------------------------------------------ state
    def reset(self, rows, frames: np.ndarray, actions: np.ndarray | None = None,
              seeds: list[int] | None = None) -> None:
        """Start dreams `rows` from the last frames of their start clips: `frames` (len(rows), k, H,
        W, 3) uint8 and the actions into them (len(rows), k) or (len(rows), k, 1), -1 for none. The
        counts and sleep are read off the last frame, the facing from its player texture (asleep,
        from the clip's last move; down, as the game starts, without one). `seeds` (one per row)
        reseed those dreams' draws (a sapling from grass); without them the draws go on."""
        rows = list(rows)
        reseed_rows(self.rngs, rows, seeds)
        frames = np.asarray(frames)
        if frames.ndim != 5 or len(frames) != len(rows) or frames.shape[2:] != self.parser.frame_shape:
            raise ValueError(f"start clips must be ({len(rows)}, k, *{self.parser.frame_shape}) uint8, "
                             f"got {frames.shape}")
        last, (n, k) = frames[:, -1], frames.shape[:2]
        with threadpool_limits(1, user_api="blas"):  # see step()
            flat = frames.reshape(n * k, *frames.shape[2:])
            clip_templates, _, clip_asleep = self.parser.templates(flat)
            clip_counts = self.parser.inventory(flat).reshape(n, k, -1)
        clip_templates, clip_asleep = clip_templates.reshape(n, k, *clip_templates.shape[1:]), clip_asleep.reshape(n, k)
        templates, sleeping = clip_templates[:, -1], clip_asleep[:, -1]
        self.counts[rows] = clip_counts[:, -1]
        moves = np.full((len(rows), 1), -1) if actions is None else np.asarray(actions).reshape(len(rows), -1)
        for j, r in enumerate(rows):
            last_move = [ACTIONS[a] for a in moves[j] if 0 <= a < len(ACTIONS) and ACTIONS[a].startswith("move_")]
            self.facing[r] = self._player_facing(templates[j], last_move[-1] if last_move else "move_down")
            self.hits[r], self.hit_kind[r] = 0, ""
            self.events[r] = []
        self._replay_counters(rows, clip_counts, clip_asleep)
        self.last_health[rows] = self.counts[rows, HEALTH]
        self.health_change[rows], self.dead[rows] = 0, False
        self.zombie_cooldown[rows], self.attacked[rows], self._into_lava[rows] = 0, 0, False
        self.prev_templates[rows], self.sleeping[rows] = templates, sleeping
        self.prev_frames[rows], self.prev_drawn_asleep[rows] = last, sleeping
        if self.memory is not None:
            self.memory.reset(rows)
            self._remember_clip(rows, clip_templates, clip_asleep, moves)
        if self.clock is not None:
            self.clock.reset(rows, frames, seeds=seeds)
            self.prev_frames[rows] = self.clock.day_frames(last)

    def _replay_counters(self, rows: list, counts: np.ndarray, asleep: np.ndarray) -> None:
        """Set dreams `rows`' hidden counters (hunger, thirst, fatigue, recover) by running the game's
        `_update_life_stats` and `_degen_or_regen_health` along their start clips: `counts`
        (len(rows), k, 16) and `asleep` (len(rows), k) read off each frame. A counter's phase is
        unknown at a clip's start (0 there, as at an episode's) and is known from the step its count
        changes: the game sets hunger to 0 when food changes (it rolls over, or the player eats),
        thirst with drink, fatigue with energy, recover with a health step of one. A dream started
        from a long prompt then falls asleep and wakes when the game would (the dream and the game
        disagreed on sleep at 20 of 48 first losses of step with the game over 128 steps, stop 31).
        Recover stays unknown at full health, where its roll-over shows nothing.

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
                slept = bool(asleep[j, t]) or (bool(asleep[j, t - 1]) and was[ENERGY] < _MAX[ENERGY])
                hunger += 0.5 if slept else 1
                thirst += 0.5 if slept else 1
                fatigue = min(fatigue - 1, 0) if slept else fatigue + 1
                fine = now[FOOD] > 0 and now[DRINK] > 0 and (now[ENERGY] > 0 or slept)
                recover += (2 if slept else 1) if fine else (-0.5 if slept else -1)
                hunger = 0 if now[FOOD] != was[FOOD] else min(hunger, 25)
                thirst = 0 if now[DRINK] != was[DRINK] else min(thirst, 20)
                fatigue = 0 if now[ENERGY] != was[ENERGY] else min(max(fatigue, -10), 30)
                recover = 0 if abs(int(now[HEALTH]) - int(was[HEALTH])) == 1 else min(max(recover, -15), 25)
            self.hunger[r], self.thirst[r], self.fatigue[r], self.recover[r] = hunger, thirst, fatigue, recover

    def _remember_clip(self, rows: list, templates: np.ndarray, asleep: np.ndarray, moves: np.ndarray) -> None:
        """Put every view of the start clips, `templates` (len(rows), k, rows, cols) read off their
        frames (`asleep` (len(rows), k): drawn asleep, grey, not read), in the memory, each where its
        view was: the clip's view steps are read off its frames and the moves into them (`moves`
        (len(rows), k), -1 none), as the dream's own are; where the action is not known, off the
        frames alone (`TerrainKeeper.guess_step`). A clip longer than the DiT's window (a prompt
        video) is remembered whole, so a dream that goes back to a place the prompt showed finds it
        as it was."""
        n, k = templates.shape[:2]
        if moves.shape[1] != k:  # no actions given: every view step is read off the frames alone
            moves = np.full((n, k), -1)
        steps = np.zeros((n, k, 2), np.int64)  # steps[:, t]: the view's step into frame t
        for t in range(1, k):
            want = np.array([_FACING[ACTIONS[a][len("move_"):]] if 0 <= a < len(ACTIONS)
                             and ACTIONS[a].startswith("move_") else (0, 0) for a in moves[:, t]])
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

    def model_frames(self, frames: np.ndarray) -> np.ndarray:
        """What the DiT is given for real frames: their day looks with `keep_daylight`, else themselves."""
        return frames if self.clock is None else self.clock.day_frames(frames)

    def _player_facing(self, templates: np.ndarray, last_move: str) -> np.ndarray:
        """(dx, dy) the player texture at the centre faces, else the direction of `last_move`."""
        name = self._object[templates[self._centre]]
        side = name[len("player-"):] if name.startswith("player-") else ""
        return np.array(_FACING[side] if side in _FACING else _FACING[last_move[len("move_"):]])

    # ------------------------------------------------------------------ rules
    def _wakes(self) -> np.ndarray:
        """(n,) bool: sleepers whose energy is full wake at the start of the step (the game's order)."""
        return self.sleeping & (self.counts[:, ENERGY] >= _MAX[ENERGY])

    def model_actions(self, actions) -> np.ndarray:
        """The actions (n, 1) the DiT is given for the player's `actions` (n,) or (n, 1): `noop` for a
        player who sleeps on or lies down (the DiT keeps the world awake; see module docstring).
        Remembers `actions` for the next `step`."""
        a = np.asarray(actions, np.int64).reshape(-1)
        if len(a) != self.n:
            raise ValueError(f"need {self.n} actions, got {a.shape}")
        if ((a < 0) | (a >= len(ACTIONS))).any():
            raise ValueError(f"Crafter actions must be in [0, {len(ACTIONS)}), got {a.tolist()}")
        self._actions = a
        asleep = self.sleeping & ~self._wakes()
        self._model_actions = np.where(asleep | (a == SLEEP), NOOP, a)
        return self._model_actions[:, None]

    def moves_refused(self, refused) -> None:
        """Told by the rollout, before `step`: (n,) bool, the moves its gate kept the view still
        for (None: no gate). The terrain keeper follows the view by it."""
        self._moved = None if refused is None else ~np.asarray(refused, bool).reshape(-1)

    def _apply(self, i: int, action: str, templates: np.ndarray) -> list[str]:
        """Apply `action` of dream i against its last frame's `templates`; returns its events."""
        c = self.counts[i]
        if action.startswith("move_"):
            self.facing[i] = dx, dy = _FACING[action[len("move_"):]]
            target = templates[self._centre[0] + dy, self._centre[1] + dx]
            # the player may walk into lava (crafter's Player.walkable), which ends the game
            self._into_lava[i] = self.attacks and self._ground[target] == "lava" and not self._object[target]
            return []
        if action == "sleep":
            self.sleeping[i] |= c[ENERGY] < _MAX[ENERGY]
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
            self._effect[i] = self._class[name if info["type"] == "material" else f"{name}/{ground}"]
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
        return []  # noop

    def _do(self, i: int, obj: str, ground: str) -> list[str]:
        c = self.counts[i]
        if obj in _CREATURE_HEALTH:
            damage = max(1, 2 * bool(c[_INDEX["wood_sword"]]), 3 * bool(c[_INDEX["stone_sword"]]),
                         5 * bool(c[_INDEX["iron_sword"]]))
            self.hits[i] += damage
            if self.hits[i] < _CREATURE_HEALTH[obj]:
                return []
            self.hits[i] = 0
            self._effect[i] = self._class[ground]  # the game removes the creature in the same step
            if obj == "cow":
                c[FOOD] += 6
                self.hunger[i] = 0
            return [_CREATURE_EVENT[obj]]
        if obj == "plant-ripe":
            c[FOOD] += 4
            self._effect[i] = self._class[f"plant/{ground}"]  # eaten, the plant starts to grow again
            return ["eat_plant"]
        if obj:  # the player, an arrow, an unripe plant: nothing to take
            return []
        if ground == "water":
            self.thirst[i] = 0
        info = constants.collect.get(ground)
        if info is None or not self._has(c, info["require"]):
            return []
        if info["leaves"] != ground:  # a tree leaves grass, stone and ores a path (before the draw, as the game)
            self._effect[i] = self._class[info["leaves"]]
        if self.rngs[i].uniform() > info.get("probability", 1):
            return []
        for name, amount in info["receive"].items():
            c[_INDEX[name]] += amount
        return [f"collect_{name}" for name in info["receive"]]

    def _life(self, i: int) -> None:
        """Crafter's `Player._update_life_stats`: the hidden counters move food, drink and energy."""
        c, asleep = self.counts[i], self.sleeping[i]
        self.hunger[i] += 0.5 if asleep else 1
        if self.hunger[i] > 25:
            self.hunger[i], c[FOOD] = 0, c[FOOD] - 1
        self.thirst[i] += 0.5 if asleep else 1
        if self.thirst[i] > 20:
            self.thirst[i], c[DRINK] = 0, c[DRINK] - 1
        self.fatigue[i] = min(self.fatigue[i] - 1, 0) if asleep else self.fatigue[i] + 1
        if self.fatigue[i] < -10:
            self.fatigue[i], c[ENERGY] = 0, c[ENERGY] + 1
        if self.fatigue[i] > 30:
            self.fatigue[i], c[ENERGY] = 0, c[ENERGY] - 1

    def _health_update(self) -> np.ndarray:
        """(n,) health after the player's own update this step (`_degen_or_regen_health`): the
        last step's health, one up or down by the hidden recover counter."""
        c = self.counts
        fine = (c[:, FOOD] > 0) & (c[:, DRINK] > 0) & ((c[:, ENERGY] > 0) | self.sleeping)
        self.recover += np.where(fine, np.where(self.sleeping, 2, 1), np.where(self.sleeping, -0.5, -1))
        up, down = self.recover > 25, self.recover < -15
        self.recover[up | down] = 0
        return np.clip(c[:, HEALTH] + up - down, 0, _MAX[HEALTH])

    @staticmethod
    def _has(c: np.ndarray, uses: dict) -> bool:
        return all(c[_INDEX[k]] >= v for k, v in uses.items())

    @staticmethod
    def _use(c: np.ndarray, uses: dict) -> None:
        for k, v in uses.items():
            c[_INDEX[k]] -= v

    # ------------------------------------------------------------------ stepping
    def step(self, actions, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the player's `actions` (n,) or (n, 1) and take the DiT's new frames (n, H, W, 3)
        uint8. Returns (context, shown): the frames with the inventory rows redrawn, and those as
        the agent sees them (a sleeper's view where the player sleeps). `events[i]` then holds
        dream i's achievements, `health_change` the step's health change and `dead` the dreams
        whose health reached 0. The actions given to `model_actions` this step, if any, are the
        player's (the DiT's `actions` then say noop where the player sleeps)."""
        a = self._actions if self._actions is not None else np.asarray(actions, np.int64).reshape(-1)
        model_a = self._model_actions if self._actions is not None else a
        moved, self._actions, self._model_actions, self._moved = self._moved, None, None, None
        frames = np.array(frames)  # the player, the keeper and the effects are drawn into it
        if len(a) != self.n or frames.shape != (self.n, *self.parser.frame_shape):
            raise ValueError(f"need {self.n} actions and frames of shape ({self.n}, *{self.parser.frame_shape}), "
                             f"got {a.shape} and {frames.shape}")
        if ((a < 0) | (a >= len(ACTIONS))).any():
            raise ValueError(f"Crafter actions must be in [0, {len(ACTIONS)}), got {a.tolist()}")
        # numpy's BLAS threads keep spinning after a call and halve torch's speed on a 2-core
        # machine (a dream step went from 24 to 50 ms): the parser's small products get one thread.
        with threadpool_limits(1, user_api="blas"):
            if self.clock is not None:  # the dream goes on in daylight: a drift into darker frames is undone
                self.clock.tick()
                frames = self.clock.day_frames(frames)
            templates, daylight, drawn_asleep = self.parser.templates(frames)
            health = self.parser.inventory(frames)[:, HEALTH]
        woke = self._wakes()
        self.sleeping &= ~woke
        self._effect[:] = -1
        for i in range(self.n):
            self.events[i] = ["wake_up"] if woke[i] else []
            if not self.sleeping[i]:  # a sleeper's actions are all `sleep`, which changes nothing
                self.events[i] += self._apply(i, ACTIONS[a[i]], self.prev_templates[i])
            self._life(i)
        self._draw_player(frames, templates, daylight, drawn_asleep)
        if self.terrain is not None:
            self._keep_terrain(frames, templates, model_a, moved, drawn_asleep, daylight)
            self._draw_effects(frames, templates, daylight, drawn_asleep)
            if self.memory is not None:
                awake = np.flatnonzero(~drawn_asleep)
                self.memory.store(awake, templates[awake])
        np.clip(self.counts, 0, _MAX, out=self.counts)
        # The game wakes a sleeper whose health, after its own update, is below what it was after
        # the last one (`_wake_up_when_hurt`; no achievement): damage dealt after the player's
        # update shows one step later, unless the regeneration of that step makes up for it.
        updated = self._health_update()
        self.sleeping &= ~(updated < self.last_health)
        self.last_health = updated
        # Health by the rules too, less the damage: the rules' attacks (after the player's update,
        # as the game updates the player first), or the damage the DiT drew (a drop below both the
        # last health and the rules' update) where that is more. The DiT does not know the hidden
        # recover counter, so its drawing would undo every step of regeneration or count a step of
        # starvation twice.
        before = self.counts[:, HEALTH].copy()
        self.attacked = self._attacks(templates, drawn_asleep, a) if self.attacks else np.zeros(self.n, np.int64)
        damage = np.maximum(np.maximum(0, np.minimum(before, updated) - health), self.attacked)
        self.counts[:, HEALTH] = np.where(self._into_lava, 0, np.clip(updated - damage, 0, _MAX[HEALTH]))
        self._into_lava[:] = False
        self.health_change = self.counts[:, HEALTH] - before
        self.dead = self.counts[:, HEALTH] <= 0  # the game ends an episode at health 0
        context = self.draw(frames)
        if self.clock is not None:  # shown at the clock's daylight, as the game lights it
            shown, daylight = self.clock.show(context), self.clock.daylight
        else:
            shown = context.copy()
        for i in np.flatnonzero(self.sleeping & ~drawn_asleep):
            shown[i] = self._asleep(shown[i], templates[i], float(daylight[i]))
        self.prev_templates, self.prev_frames = templates, context
        return context, shown

    def _attacks(self, templates: np.ndarray, drawn_asleep: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(n,) damage the game's creatures deal this step, by `Zombie.update` and `Arrow.update`:
        a zombie drawn next to the player (up, down, left or right) in the new frame hits for 2, or 7
        while the player sleeps, unless it rests from its last hit (5 steps, counted while it is
        next to the player); an arrow that pointed at the player from the next tile in the last
        frame flies into it for 2, unless the player stepped away first (the game updates the player
        first; a move is taken as a step away). Frames the DiT drew asleep are not read."""
        (r0, c0), damage = self._centre, np.zeros(self.n, np.int64)
        for i in np.flatnonzero(~drawn_asleep):
            new, old = templates[i], self.prev_templates[i]
            stayed = self.sleeping[i] or not ACTIONS[actions[i]].startswith("move_")
            for dx, dy in _FACING.values():
                if stayed and self._object[old[r0 - dy, c0 - dx]] == f"arrow-{_SIDE[(dx, dy)]}":
                    damage[i] += 2
            if any(self._object[new[r0 + dy, c0 + dx]] == "zombie" for dx, dy in _FACING.values()):
                if self.zombie_cooldown[i]:
                    self.zombie_cooldown[i] -= 1
                else:
                    damage[i] += 7 if self.sleeping[i] else 2
                    self.zombie_cooldown[i] = 5
        return damage

    def _keep_terrain(self, frames, templates, model_a, moved, drawn_asleep, daylight) -> None:
        """Restore, in `frames` and `templates`, the tiles the DiT changed against the game's rules."""
        move = np.array([_FACING[ACTIONS[x][len("move_"):]] if ACTIONS[x].startswith("move_") else (0, 0)
                         for x in model_a])
        step = self.terrain.view_step(self.prev_templates, templates, move, moved)
        if self.memory is not None:
            self.memory.move(step)
        awake = ~drawn_asleep & ~self.prev_drawn_asleep  # a sleeper's grey view is not parsed for terrain
        self.restored[:] = 0
        if awake.any():
            rows = np.flatnonzero(awake)
            f, t = frames[rows], templates[rows]
            acted = np.where(self._effect[rows, None] >= 0, self.facing[rows], 0)  # drawn by _draw_effects
            def draw(j: int, k: int) -> np.ndarray:  # a remembered material, lit as the frame is
                return self._lit_tile(self._ground[k], self._object[k], float(daylight[rows[j]]))

            self.restored[rows] = self.terrain.keep(self.prev_frames[rows], self.prev_templates[rows], f, t,
                                                    step[rows], acted,
                                                    None if self.memory is None else self.memory.recall(rows), draw)
            frames[rows], templates[rows] = f, t
        self.prev_drawn_asleep = drawn_asleep

    def _draw_player(self, frames, templates, daylight, drawn_asleep) -> None:
        """Draw, in `frames` and `templates`, the player on the centre tile facing the way the rules
        say (the last move, refused or not) where the DiT drew another facing or no player. The DiT
        turns the player at random: at horizon 1 the facing it drew was the game's after 52 % of the
        actions that are not moves (stop 31), and the faced tile is where `do` and `place_*` act.
        Over the ground the DiT drew there, grass where that is not ground a player stands on."""
        p, u = self.parser, self.parser.unit
        bx, by = p.view_origin
        r0, c0 = self._centre
        y, x = by + r0 * u, bx + c0 * u
        self.player_drawn[:] = 0
        for i in np.flatnonzero(~drawn_asleep):
            want, k = f"player-{_SIDE[tuple(self.facing[i])]}", templates[i, r0, c0]
            if self._object[k] == want:
                continue
            ground = self._ground[k] if f"{want}/{self._ground[k]}" in self._class else "grass"
            frames[i, y : y + u, x : x + u] = self._lit_tile(ground, want, float(daylight[i]))
            templates[i, r0, c0], self.player_drawn[i] = self._class[f"{want}/{ground}"], 1

    def _draw_effects(self, frames, templates, daylight, drawn_asleep) -> None:
        """Draw, in `frames` and `templates`, what the player's own `do` or `place_*` made of the
        tile it faces where the DiT did not: the chopped tree's grass, the placed table, the sapling,
        the ground of an eaten cow. The DiT rarely draws its own effect (a random player's chopped
        tree stayed a tree in 26 of 27 dream steps), and a tree that stays gives wood without end.
        `do` and `place_*` do not move the view, so the faced tile is where it was."""
        p, u = self.parser, self.parser.unit
        bx, by = p.view_origin
        (r0, c0), self.effects[:] = self._centre, 0
        for i in np.flatnonzero((self._effect >= 0) & ~drawn_asleep):
            dx, dy = self.facing[i]
            r, c, k = r0 + dy, c0 + dx, int(self._effect[i])
            now, was = templates[i, r, c], self._object[self.prev_templates[i, r, c]]
            # a creature or arrow may come onto the freed ground in the same step (not the one killed)
            arrived = not self._object[k] and self._object[now] not in ("", was) and self._ground[now] == self._ground[k]
            if now == k or arrived:
                continue
            y, x = by + r * u, bx + c * u
            frames[i, y : y + u, x : x + u] = self._lit_tile(self._ground[k], self._object[k], float(daylight[i]))
            templates[i, r, c], self.effects[i] = k, 1

    def _lit_tile(self, ground: str, obj: str, daylight: float) -> np.ndarray:
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

    __call__ = step

    def draw(self, frames: np.ndarray) -> np.ndarray:
        """`frames` (n, H, W, 3) with the inventory rows redrawn from the ledger's counts, exactly
        as crafter's `Env.render` draws them."""
        p, out = self.parser, np.array(frames, copy=True)
        bx, by = p.view_origin
        top = by + p.rows * p.unit
        for i in range(self.n):
            inv = dict(zip(INVENTORY_ITEMS, self.counts[i].tolist(), strict=True))
            rows = self._items_view(inv, np.array([p.unit, p.unit])).transpose(1, 0, 2)  # crafter draws [x, y]
            out[i, top : top + rows.shape[0], bx : bx + rows.shape[1]] = rows
        return out

    def _asleep(self, frame: np.ndarray, templates: np.ndarray, daylight: float) -> np.ndarray:
        """An awake frame as crafter draws a sleeper's: the sleeping texture on the centre tile (lit
        at the frame's daylight, without the night grain), then the view grey at half luma plus a
        blue tint (`engine.LocalView._sleep`). The inventory rows stay as they are."""
        p, u = self.parser, self.parser.unit
        bx, by = p.view_origin
        out = frame.copy()
        r0, c0 = self._centre
        y, x = by + r0 * u, bx + c0 * u
        out[y : y + u, x : x + u] = self._lit_tile(self._ground[templates[r0, c0]], "player-sleep", daylight)
        view = out[by : by + p.rows * u, bx : bx + p.cols * u].astype(np.int64)
        grey = ((view @ np.array([19595, 38470, 7471]) + 32768) >> 16)[..., None]  # PIL's "L", rounded as PIL does
        out[by : by + p.rows * u, bx : bx + p.cols * u] = (0.5 * grey + 0.5 * SLEEP_TINT).astype(np.uint8)
        return out
