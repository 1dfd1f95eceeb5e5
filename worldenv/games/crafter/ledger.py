"""Keep a Crafter dream's player state by the game's rules, and draw it the way the game does.

The DiT draws a whole frame, inventory rows included, and what it draws there can be wrong: a
wood that no tree gave, a sword that a refused craft drew. A policy trained in the dream finds and
farms those errors (docs/design.md, "The game's rules in the dream"). But the inventory is not a
picture to guess: it is 16 counts that change by the player's own attempts and a few hidden
counters, under rules that crafter ships as data and code. `InventoryLedger` keeps them per dream
as the game does and draws them, composed of one part per concern:

- `PlayerCounters` (counters.py): the counts, the hidden hunger, thirst, fatigue and recover
  counters and sleep, moved by the game's code and replayed along a start clip;
- `ActionRules` (actions.py): what `do`, `place_*`, `make_*`, `sleep` and moves do, read off the
  tile the player faces in the last frame; each attempt the rules pass is an achievement event;
- `CreatureCombat` (combat.py): hits on creatures and, with `attacks`, the creatures' attacks;
- `DreamPainter` (drawing.py): the player's facing, the faced tile's effect, the inventory rows
  and the sleeper's view, drawn with crafter's textures;
- `KeptTerrain` (keeping.py), with `keep_terrain`: the tiles the DiT changed against the rules put
  back, and the materials seen before remembered;
- `CrafterClock` (daylight.py), with `keep_daylight`: day and night by the game's clock.

Health follows the game's regeneration and starvation less the damage: that of the rules'
attacks, or that the DiT draws where it is more. At 0 health the dream is over (`dead`), as the
game is.

Sleep is drawn here, not by the DiT: the DiT is told `noop` while the player sleeps or lies down
and keeps dreaming the awake world, and the frame the agent sees is that frame as crafter draws a
sleeper's view. The DiT, which once asleep had no way back to colour, never has to draw waking up.

Not kept: a creature's health from hits before it stood in front, how ripe a plant is beyond its
texture, and the counters' values before a dream's start clip (0 there, as at an episode's start).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from model.dream_rules import DreamRules
from worldenv.games.crafter.actions import ActionRules
from worldenv.games.crafter.combat import CreatureCombat
from worldenv.games.crafter.common import ACHIEVEMENTS, ACTIONS, NOOP, SLEEP, ViewTiles
from worldenv.games.crafter.counters import DRINK, ENERGY, FOOD, HEALTH, MAX, PlayerCounters
from worldenv.games.crafter.daylight import CrafterClock
from worldenv.games.crafter.drawing import DreamPainter
from worldenv.games.crafter.keeping import KeptTerrain
from worldenv.games.crafter.memory import WorldMemory
from worldenv.games.crafter.parse import CrafterFrameParser
from worldenv.games.crafter.terrain import TerrainKeeper

__all__ = ["ACHIEVEMENTS", "ACTIONS", "DRINK", "ENERGY", "FOOD", "HEALTH", "NOOP", "SLEEP", "InventoryLedger"]


def _part(part: str, name: str, doc: str) -> property:
    """An attribute of the ledger that is its part's (`ledger.counts` is `ledger.player.counts`)."""
    return property(lambda self: getattr(getattr(self, part), name), doc=doc)


class InventoryLedger(DreamRules):
    """The player state of `n` Crafter dreams, kept by the game's rules (see module docstring): the
    `DreamRules` a Crafter world's `DreamRollout` runs.

    `size` is the frames' (width, height), `view` crafter's tile view. Per step: `model_actions`
    turns the player's actions into the ones the DiT is given, then `step` (also `__call__`) takes
    the DiT's new frames and returns (context frames, shown frames); `events` then holds each
    dream's achievements of the step, `health_change` its health change (`health_reward` a tenth
    of it, as crafter pays), `dead` the dreams whose health reached 0, `attacked` the damage the
    game's creatures dealt by the rules (with `attacks`); with `keep_terrain`, `restored` the tiles
    the keeper put back and `effects` whether the faced tile was drawn by the rules. `reset` starts
    dreams from clips. With `keep_daylight` the day and night follow the game's clock
    (`CrafterClock`): the DiT is given and dreams day looks, shown darkened by the clock.
    """

    def __init__(self, n: int, size: tuple[int, int] = (72, 72), view: tuple[int, int] = (9, 9),
                 seed: int = 0, keep_terrain: bool = False, attacks: bool = False,
                 keep_daylight: bool = False):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.parser = p = CrafterFrameParser(size=size, view=view)
        self.n = n
        tiles = ViewTiles(p)
        self.player = PlayerCounters(n)
        self.combat = CreatureCombat(n, tiles, attacks)
        self.attempts = ActionRules(n, tiles, self.player, self.combat, seed)
        self.painter = DreamPainter(n, p, tiles)
        self.kept = KeptTerrain(n, p) if keep_terrain else None
        self.clock = CrafterClock(n, size, view, parser=p, seed=seed) if keep_daylight else None
        self.health_change = np.zeros(n, np.int64)  # of the last step
        self.dead = np.zeros(n, bool)
        self.events: list[list[str]] = [[] for _ in range(n)]
        self.prev_templates = np.zeros((n, p.rows, p.cols), np.int64)
        self.prev_frames = np.zeros((n, *p.frame_shape), np.uint8)
        self.prev_drawn_asleep = np.zeros(n, bool)
        self._actions: np.ndarray | None = None  # the player's actions of the step in progress
        self._model_actions: np.ndarray | None = None
        self._moved: np.ndarray | None = None

    # the parts' state, read (and changed in place) as the ledger's own
    counts = _part("player", "counts", "(n, 16) int64 inventory counts")
    hunger = _part("player", "hunger", "(n,) crafter's hidden hunger counter")
    thirst = _part("player", "thirst", "(n,) crafter's hidden thirst counter")
    fatigue = _part("player", "fatigue", "(n,) crafter's hidden fatigue counter")
    recover = _part("player", "recover", "(n,) crafter's hidden recover counter")
    last_health = _part("player", "last_health", "(n,) health after the player's last own update")
    sleeping = _part("player", "sleeping", "(n,) bool: the player sleeps")
    facing = _part("attempts", "facing", "(n, 2) the (dx, dy) the player faces")
    rngs = _part("attempts", "rngs", "each dream's generator of the game's draws")
    attacks = _part("combat", "attacks", "whether creatures and lava hurt by the rules")
    hits = _part("combat", "hits", "(n,) do hits on the kind of creature in front")
    hit_kind = _part("combat", "hit_kind", "the kind of creature in front, per dream")
    zombie_cooldown = _part("combat", "zombie_cooldown", "(n,) rest of the zombie next to the player")
    attacked = _part("combat", "attacked", "(n,) damage the rules' attacks dealt in the last step")
    player_drawn = _part("painter", "player_drawn", "(n,) 1 where the last step drew the facing")
    effects = _part("painter", "effects", "(n,) 1 where the last step drew the faced tile's effect")

    @property
    def terrain(self) -> TerrainKeeper | None:
        """The terrain keeper (with `keep_terrain`)."""
        return None if self.kept is None else self.kept.terrain

    @property
    def memory(self) -> WorldMemory | None:
        """The world memory (with `keep_terrain`)."""
        return None if self.kept is None else self.kept.memory

    @property
    def restored(self) -> np.ndarray:
        """(n,) tiles the terrain keeper put back in the last step (zeros without `keep_terrain`)."""
        return np.zeros(self.n, np.int64) if self.kept is None else self.kept.restored

    @property
    def achievements(self) -> list[str]:
        """Every achievement name `events` can hold (crafter's 22)."""
        return list(ACHIEVEMENTS)

    @property
    def health_reward(self) -> np.ndarray:
        """(n,) float64 reward of the last step besides achievements: crafter pays a tenth of the
        health change."""
        return np.asarray(self.health_change, np.float64) / 10

    # ------------------------------------------------------------------ state
    def reset(self, rows, frames: np.ndarray, actions: np.ndarray | None = None,
              seeds: list[int] | None = None) -> None:
        """Start dreams `rows` from the last frames of their start clips: `frames` (len(rows), k, H,
        W, 3) uint8 and the actions into them (len(rows), k) or (len(rows), k, 1), -1 for none. The
        counts and sleep are read off the last frame (the hidden counters off the whole clip), the
        facing from its player texture (asleep, from the clip's last move; down, as the game starts,
        without one). `seeds` (one per row) reseed those dreams' draws (a sapling from grass, the
        night grain); without them the draws go on."""
        rows = list(rows)
        frames = np.asarray(frames)
        if seeds is not None and len(seeds) != len(rows):
            raise ValueError(f"need {len(rows)} seeds, got {len(seeds)}")
        if frames.ndim != 5 or len(frames) != len(rows) or frames.shape[2:] != self.parser.frame_shape:
            raise ValueError(f"start clips must be ({len(rows)}, k, *{self.parser.frame_shape}) uint8, "
                             f"got {frames.shape}")
        last, (n, k) = frames[:, -1], frames.shape[:2]
        with threadpool_limits(1, user_api="blas"):  # see step()
            flat = frames.reshape(n * k, *frames.shape[2:])
            clip_templates, _, clip_asleep = self.parser.templates(flat)
            clip_counts = self.parser.inventory(flat).reshape(n, k, -1)
        clip_templates = clip_templates.reshape(n, k, *clip_templates.shape[1:])
        clip_asleep = clip_asleep.reshape(n, k)
        moves = np.full((len(rows), 1), -1) if actions is None else np.asarray(actions).reshape(len(rows), -1)
        self.player.reset(rows, clip_counts, clip_asleep)
        self.attempts.reset(rows, clip_templates[:, -1], moves, seeds)
        self.combat.reset(rows)
        for r in rows:
            self.events[r] = []
        self.health_change[rows], self.dead[rows] = 0, False
        self.prev_templates[rows], self.prev_drawn_asleep[rows] = clip_templates[:, -1], clip_asleep[:, -1]
        self.prev_frames[rows] = last if self.clock is None else self.clock.day_frames(last)
        if self.kept is not None:
            self.kept.reset(rows, clip_templates, clip_asleep, moves)
        if self.clock is not None:
            self.clock.reset(rows, frames, seeds=seeds)

    def model_frames(self, frames: np.ndarray) -> np.ndarray:
        """What the DiT is given for real frames: their day looks with `keep_daylight`, else themselves."""
        return frames if self.clock is None else self.clock.day_frames(frames)

    def model_actions(self, actions) -> np.ndarray:
        """The actions (n, 1) the DiT is given for the player's `actions` (n,) or (n, 1): `noop` for a
        player who sleeps on or lies down (the DiT keeps the world awake; see module docstring).
        Remembers `actions` for the next `step`."""
        a = self._check_actions(actions)
        self._actions = a
        asleep = self.player.sleeping & ~self.player.wakes()
        self._model_actions = np.where(asleep | (a == SLEEP), NOOP, a)
        return self._model_actions[:, None]

    def moves_refused(self, refused) -> None:
        """Told by the rollout, before `step`: (n,) bool, the moves its gate kept the view still
        for (None: no gate). The terrain keeper follows the view by it."""
        self._moved = None if refused is None else ~np.asarray(refused, bool).reshape(-1)

    def _check_actions(self, actions) -> np.ndarray:
        a = np.asarray(actions, np.int64).reshape(-1)
        if len(a) != self.n:
            raise ValueError(f"need {self.n} actions, got {a.shape}")
        if ((a < 0) | (a >= len(ACTIONS))).any():
            raise ValueError(f"Crafter actions must be in [0, {len(ACTIONS)}), got {a.tolist()}")
        return a

    # ------------------------------------------------------------------ stepping
    def step(self, actions, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the player's `actions` (n,) or (n, 1) and take the DiT's new frames (n, H, W, 3)
        uint8. Returns (context, shown): the frames with the inventory rows redrawn, and those as
        the agent sees them (a sleeper's view where the player sleeps). `events[i]` then holds
        dream i's achievements, `health_change` the step's health change and `dead` the dreams
        whose health reached 0. The actions given to `model_actions` this step, if any, are the
        player's (the DiT's `actions` then say noop where the player sleeps)."""
        if self._actions is None:
            a = model_a = self._check_actions(actions)
        else:
            a, model_a = self._actions, self._model_actions
        moved, self._actions, self._model_actions, self._moved = self._moved, None, None, None
        frames = np.array(frames)  # the player, the keeper and the effects are drawn into it
        if frames.shape != (self.n, *self.parser.frame_shape):
            raise ValueError(f"need {self.n} frames of shape {self.parser.frame_shape}, got {frames.shape}")
        # numpy's BLAS threads keep spinning after a call and halve torch's speed on a 2-core
        # machine (a dream step went from 24 to 50 ms): the parser's small products get one thread.
        with threadpool_limits(1, user_api="blas"):
            if self.clock is not None:  # the dream goes on in daylight: a drift into darker frames is undone
                self.clock.tick()
                frames = self.clock.day_frames(frames)
            templates, daylight, drawn_asleep = self.parser.templates(frames)
            drawn_health = self.parser.inventory(frames)[:, HEALTH]
        player = self.player
        woke = player.wakes()  # at the step's start, before the actions (the game's order)
        player.sleeping &= ~woke
        for i, got in enumerate(self.attempts.step(a, self.prev_templates)):
            self.events[i] = (["wake_up"] if woke[i] else []) + got
        player.life()
        self.painter.draw_player(frames, templates, self.attempts.facing, daylight, drawn_asleep)
        if self.kept is not None:
            effect, facing = self.attempts.effect, self.attempts.facing
            acted = np.where(effect[:, None] >= 0, facing, 0)  # the faced tile: drawn by draw_effects
            self.kept.keep(frames, templates, self.prev_frames, self.prev_templates, model_a, moved,
                           ~drawn_asleep & ~self.prev_drawn_asleep, acted,
                           lambda i, k: self.painter.template_tile(k, float(daylight[i])))
            self.prev_drawn_asleep = drawn_asleep
            self.painter.draw_effects(frames, templates, self.prev_templates, effect, facing, daylight,
                                      drawn_asleep)
            self.kept.store(templates, drawn_asleep)
        player.clip()
        updated = player.update_health()
        # Health by the rules too, less the damage: the rules' attacks (after the player's update,
        # as the game updates the player first), or the damage the DiT drew (a drop below both the
        # last health and the rules' update) where that is more. The DiT does not know the hidden
        # recover counter, so its drawing would undo every step of regeneration or count a step of
        # starvation twice.
        before = player.counts[:, HEALTH].copy()
        attacked = self.combat.strike(templates, self.prev_templates, drawn_asleep, player.sleeping, a)
        damage = np.maximum(np.maximum(0, np.minimum(before, updated) - drawn_health), attacked)
        health = np.clip(updated - damage, 0, MAX[HEALTH])
        player.counts[:, HEALTH] = np.where(self.combat.into_lava, 0, health)  # lava ends the game
        self.combat.into_lava[:] = False
        self.health_change = player.counts[:, HEALTH] - before
        self.dead = player.counts[:, HEALTH] <= 0  # the game ends an episode at health 0
        context = self.draw(frames)
        if self.clock is not None:  # shown at the clock's daylight, as the game lights it
            shown, daylight = self.clock.show(context), self.clock.daylight
        else:
            shown = context.copy()
        for i in np.flatnonzero(player.sleeping & ~drawn_asleep):
            shown[i] = self.painter.draw_asleep(shown[i], templates[i], float(daylight[i]))
        self.prev_templates, self.prev_frames = templates, context
        return context, shown

    __call__ = step

    def draw(self, frames: np.ndarray) -> np.ndarray:
        """`frames` (n, H, W, 3) with the inventory rows redrawn from the ledger's counts, exactly
        as crafter's `Env.render` draws them."""
        return self.painter.draw_inventory(frames, self.player.counts)
