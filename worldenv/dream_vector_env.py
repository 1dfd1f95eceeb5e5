"""Many dreams stepped in one model call: a Gymnasium VectorEnv for SoraWorld-v0.

`gym.make_vec("SoraWorld-v0", num_envs=N)` returns this env. All N dreams share one batched
KV cache and one DiT forward per denoising step, so RL throughput grows with N. Episodes that
end are restarted in the same step (Gymnasium's SAME_STEP autoreset, which is also what
stable-baselines3 expects): the returned observation is the new start frame and the last frame
of the finished episode is in `infos["final_obs"]`. Start clips and rewards follow `DreamEnv`
(`starts=RECORDINGS_DIR` for mid-episode starts; an achievement pays only on its first unlock in
an episode); infos carry no per-dream inventory or achievements (use `DreamEnv` for those).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from worldenv.achievements import FirstUnlockRewards
from worldenv.dream_env import (
    action_space_for,
    check_settings,
    dream_parts,
    resolve_device,
    set_threads,
)
from worldenv.start_states import load_start_clips
from worldenv.worlds import load_world


class DreamVectorEnv(VectorEnv):
    """`num_envs` dreams of one world, batched (see module docstring and `DreamEnv`). Unlike
    `DreamEnv`, `threads` defaults to None (torch's own setting): batches use both cores well on a
    quiet machine; pass threads=1 on a shared one (docs/results/bench.md)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP, "render_fps": 10}

    def __init__(self, num_envs: int = 8, world: str | Path | None = None, rules: str | Sequence[str] | None = "game",
                 steps: int = 2, context: int | None = None, device: str = "cpu",
                 threads: int | None = None, max_episode_steps: int = 10_000, bf16: bool = True,
                 context_sigma: float | None = None, reground: bool | None = None, guidance: float | None = None,
                 starts: str | Path | None = None, num_starts: int = 512, start_anywhere: bool = True,
                 hold_openings: bool = False, start_sigma: float | None = None, render_mode: str | None = None,
                 _world_model=None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        check_settings(context_sigma=context_sigma, guidance=guidance, start_sigma=start_sigma)
        set_threads(threads)
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.world = _world_model or load_world(world, self.device)
        self.game, self.rules, self.rollout = dream_parts(
            self.world, num_envs, rules, steps=steps, context=context, bf16=bf16, context_sigma=context_sigma,
            reground=reground, guidance=guidance, start_sigma=start_sigma, device=self.device)
        self.start_frames, self.start_actions = load_start_clips(self.world, starts, num_starts, anywhere=start_anywhere,
                                                                 hold_openings=hold_openings)
        paid = self.rules.achievements if self.rules is not None and self.rules.achievements is not None else None
        self.rewarder = FirstUnlockRewards(num_envs, paid if paid is not None else self.world.achievements)
        self.single_observation_space = gym.spaces.Box(0, 255, self.world.frame_shape, np.uint8)
        self.single_action_space = action_space_for(self.world.action_nvec)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self._t = np.zeros(num_envs, np.int64)
        self._obs: np.ndarray | None = None
        self._rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]

    def _start_clips(self, rows) -> tuple[np.ndarray, np.ndarray]:
        idx = [int(self._rngs[i].integers(len(self.start_frames))) for i in rows]
        return self.start_frames[idx], self.start_actions[idx]

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if options:
            raise ValueError(f"DreamVectorEnv.reset takes no options (got {sorted(options)}); start clips come from the bank")
        if seed is not None:
            seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed + i for i in range(self.num_envs)]
            if len(seeds) != self.num_envs:
                raise ValueError(f"need {self.num_envs} seeds, got {len(seeds)}")
            self._rngs = [np.random.default_rng(s) for s in seeds]
        # Same draws in the same order as DreamEnv.reset: start clip, then the dream's noise seed.
        frames, actions = self._start_clips(range(self.num_envs))
        seeds = [int(rng.integers(2**31 - 1)) for rng in self._rngs]
        self.rollout.seed(seeds)
        self.rollout.reset(frames, actions)
        if self.rules is not None:
            self.rules.reset(range(self.num_envs), frames, actions, seeds)
        self._t[:] = 0
        self.rewarder.reset()
        self._obs = frames[:, -1].copy()
        return self._obs.copy(), {}

    def _check_actions(self, actions) -> np.ndarray:
        a = np.asarray(actions)
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be integers in {self.single_action_space}, got dtype {a.dtype}")
        if not self.action_space.contains(a.astype(self.action_space.dtype)) or a.shape != self.action_space.shape:
            raise ValueError(f"actions {a.tolist()} are not in the batched action space {self.action_space}")
        return a.astype(np.int64).reshape(self.num_envs, -1)

    def step(self, actions):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_actions(actions)
        r = self.rollout.step(a)
        rules = self.rules
        if rules is not None and rules.events is not None:
            rewards, _ = self.rewarder.rewards(r, rules.events, rules.health_reward)
        else:
            rewards, _ = self.rewarder.rewards(r)
        self._t += 1
        obs = r.frames.copy()
        terminated = r.terminated.astype(bool) | (rules.dead if rules is not None and rules.dead is not None else False)
        truncated = (self._t >= self.max_episode_steps) & ~terminated
        done = np.flatnonzero(terminated | truncated)
        infos: dict = {}
        if len(done):
            final = np.zeros_like(obs)
            final[done] = obs[done]
            infos = {"final_obs": final, "_final_obs": np.isin(np.arange(self.num_envs), done)}
            frames, acts = self._start_clips(done)
            self.rollout.reset_rows(list(done), frames, acts)
            if self.rules is not None:
                self.rules.reset(list(done), frames, acts)
            obs[done] = frames[:, -1]
            self._t[done] = 0
            self.rewarder.reset(done)
        self._obs = obs
        return obs.copy(), rewards, terminated, truncated, infos

    def render(self):
        return None if self._obs is None else self._obs.copy()
