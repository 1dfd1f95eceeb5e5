"""Crafter (Hafner 2021) as a Gymnasium env: the real game behind the Crafter dream.

Crafter speaks the old gym API (4-tuple step, no `reset(seed=)`, seed in the constructor).
This wrapper gives it the Gymnasium interface so the real game and the dream (`SoraWorld-v0`)
are interchangeable for agents, the collector and `scripts/play.py`.
"""

from __future__ import annotations

import collections
from typing import Any

import crafter
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldenv.games.crafter.caption import caption_from_game
from worldenv.window import FrameWindow, RendersFrames

ACTION_NAMES: tuple[str, ...] = tuple(crafter.constants.actions)
ACHIEVEMENTS: tuple[str, ...] = tuple(crafter.constants.achievements)
INVENTORY_ITEMS: tuple[str, ...] = tuple(crafter.constants.items)
# action id -> (dx, dy) of the player in tiles when the step succeeds (the view follows the player)
PLAYER_MOVES: dict[int, tuple[int, int]] = {
    ACTION_NAMES.index(name): move
    for name, move in (("move_left", (-1, 0)), ("move_right", (1, 0)), ("move_up", (0, -1)), ("move_down", (0, 1)))
}


class _OrderedSet(dict):
    """A set that iterates in insertion order (a dict with None values)."""

    def add(self, item) -> None:
        self[item] = None

    def remove(self, item) -> None:
        del self[item]


def _make_deterministic(world) -> None:
    """Crafter keeps each chunk's objects in a Python `set` and picks creatures to despawn by
    index into it; set order follows object addresses, so the same seed and actions could give
    different games. Insertion-ordered chunks make a seeded episode exactly reproducible."""
    original_reset = world.reset

    def reset(seed=None):
        original_reset(seed)
        world._chunks = collections.defaultdict(_OrderedSet)

    world.reset = reset
    world._chunks = collections.defaultdict(_OrderedSet)


class CrafterEnv(RendersFrames, gym.Env):
    """The real Crafter game with the Gymnasium API.

    ## Action Space
    `Discrete(17)`: crafter's actions in its own order (`ACTION_NAMES`): noop, move
    left/right/up/down, do, sleep, place stone/table/furnace/plant, make wood/stone/iron
    pickaxe, make wood/stone/iron sword.

    ## Observation Space
    `Box(0, 255, (H, W, 3), uint8)`: the frame as crafter renders it. The default 64x64 with a
    9x9 view gives 7-pixel tiles: a 9x7 local view above a 9x2 inventory.

    ## Rewards
    Crafter's own: +1 for each achievement first unlocked in an episode, plus health change / 10.

    ## Episode End
    Terminated when the player dies; truncated at `length` steps (10,000 by default).

    ## Info
    Copies (never live references) of `inventory`, `achievements`, `semantic` (the whole world's
    material/object id map), `player_pos`, plus `facing`, `sleeping`, `daylight` and a
    descriptive `caption` of the state when `captions=True`.

    ## Arguments
    `size=(W, H)` width first, `view=(9, 9)` tiles, `area=(64, 64)` world size, `length`,
    `render_mode` in {"rgb_array", "human"}, `captions`.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(
        self,
        size: tuple[int, int] = (64, 64),
        view: tuple[int, int] = (9, 9),
        area: tuple[int, int] = (64, 64),
        length: int = 10_000,
        render_mode: str | None = None,
        captions: bool = True,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        size, view = tuple(int(s) for s in size), tuple(int(v) for v in view)
        if size[0] // view[0] != size[1] // view[1]:
            raise ValueError(f"size {size} and view {view} give non-square tiles; keep size // view equal")
        self.size, self.view, self.area, self.length = size, view, tuple(area), length
        self.render_mode = render_mode
        self.captions = captions
        self.observation_space = spaces.Box(0, 255, (size[1], size[0], 3), np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._env = crafter.Env(area=self.area, view=view, size=size, length=length, seed=0)
        _make_deterministic(self._env._world)
        self._obs: np.ndarray | None = None
        self._window = FrameWindow("Crafter")

    # The crafter game state, for captions, the explore policy and the play HUD.
    @property
    def game(self) -> crafter.Env:
        return self._env

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # crafter seeds each world from hash((seed, episode)); re-seeding it from our RNG makes
        # reset(seed=s) reproducible and unseeded resets still differ.
        self._env._seed = int(self.np_random.integers(0, 2**31 - 1))
        self._env._episode = 0
        obs = self._env.reset()
        self._obs = obs
        info = self._info(reward=0.0)
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space} (ints 0..{self.action_space.n - 1})")
        obs, reward, done, _ = self._env.step(int(action))
        self._obs = obs
        dead = self._env._player.health <= 0
        terminated = bool(dead)
        truncated = bool(done and not dead)
        info = self._info(reward=float(reward))
        if self.render_mode == "human":
            self.render()
        return obs, float(reward), terminated, truncated, info

    def _info(self, reward: float) -> dict[str, Any]:
        env, player = self._env, self._env._player
        info = {
            "inventory": dict(player.inventory),
            "achievements": dict(player.achievements),
            "semantic": env._sem_view(),  # a fresh array each call
            "player_pos": np.array(player.pos, dtype=np.int64),
            "facing": tuple(int(f) for f in player.facing),
            "sleeping": bool(player.sleeping),
            "daylight": float(env._world.daylight),
            "step": int(env._step),
            "reward": reward,
        }
        if self.captions:
            info["caption"] = caption_from_game(env)
        return info
