"""Agent checkpoints as safetensors (no pickle): PPO policy weights, optimizer state, spaces, step.

A checkpoint records the observation and action spaces it was trained for; loading it for an
env with other spaces is an error that names both.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO

from model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    save_checkpoint,
)

KIND = "PPOPolicy"


def describe_space(space: gym.Space) -> dict:
    """A JSON description of a Box/Discrete/MultiDiscrete space (what must match to reuse a policy)."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in space.nvec]}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
    raise ValueError(f"unsupported space {space}")


def ppo_hyperparams(model: PPO) -> dict:
    return {"n_steps": model.n_steps, "batch_size": model.batch_size, "n_epochs": model.n_epochs,
            "gamma": model.gamma, "gae_lambda": model.gae_lambda, "ent_coef": model.ent_coef,
            "clip_range": float(model.clip_range(1.0)), "learning_rate": float(model.learning_rate)
            if not callable(model.learning_rate) else float(model.learning_rate(1.0))}


def save_policy(model: PPO, path: str | Path, observation_space: gym.Space, action_space: gym.Space,
                **meta) -> None:
    """Weights + optimizer moments + timesteps + the env's spaces (as the env gives them, before
    SB3 transposes images) + the network's name (`agents.networks`), atomically."""
    from agents.networks import ImpalaCNN

    meta.setdefault("network", "impala" if isinstance(model.policy.features_extractor, ImpalaCNN) else "cnn")
    policy = model.policy
    names = {p: n for n, p in policy.named_parameters()}
    # named_parameters() lists a parameter shared by several modules (SB3 shares the CNN between
    # actor and critic) once, which is what safetensors needs.
    tensors = {f"policy.{k}": v for k, v in [*policy.named_parameters(), *policy.named_buffers()]}
    tensors.update(optimizer_tensors(policy.optimizer, names))
    save_checkpoint(path, tensors, KIND, None, observation_space=describe_space(observation_space),
                    action_space=describe_space(action_space), num_timesteps=int(model.num_timesteps),
                    hyperparams=ppo_hyperparams(model), **meta)


def check_spaces(meta: dict, env_obs: gym.Space, env_act: gym.Space, source: str) -> None:
    want_obs, want_act = describe_space(env_obs), describe_space(env_act)
    if meta["observation_space"] != want_obs or meta["action_space"] != want_act:
        raise CheckpointError(
            f"{source}: policy was trained for observations {meta['observation_space']} and actions "
            f"{meta['action_space']}, but this env has observations {want_obs} and actions {want_act}"
        )


def policy_frame_size(path: str | Path) -> tuple[int, int]:
    """(W, H) of the image observations a saved policy was trained on."""
    _, meta = load_checkpoint(path, KIND)
    shape = meta["observation_space"].get("shape", [])
    if len(shape) != 3:
        raise CheckpointError(f"{path}: policy observations {meta['observation_space']} are not (H, W, C) images")
    return int(shape[1]), int(shape[0])


def load_policy(path: str | Path, env, device: str = "cpu", **ppo_kwargs) -> PPO:
    """A PPO model for `env` (a VecEnv or gym env) with the checkpoint's weights and optimizer state."""
    from agents.networks import policy_kwargs

    tensors, meta = load_checkpoint(path, KIND)
    check_spaces(meta, env.observation_space, env.action_space, str(path))
    hp = {**meta.get("hyperparams", {}), **ppo_kwargs}
    network = meta.get("network", "cnn")  # checkpoints from before the choice hold SB3's CNN
    model = PPO("CnnPolicy", env, device=device, policy_kwargs=policy_kwargs(network), **hp)
    weights = {k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")}
    expected = {n for n, _ in [*model.policy.named_parameters(), *model.policy.named_buffers()]}
    if set(weights) != expected:
        raise CheckpointError(f"{path}: policy weights do not fit a CnnPolicy with the {network!r} network: missing "
                              f"{sorted(expected - set(weights))[:5]}, unexpected {sorted(set(weights) - expected)[:5]}")
    model.policy.load_state_dict(weights, strict=False)  # aliases of shared parameters load through them
    names = {p: n for n, p in model.policy.named_parameters()}
    load_optimizer_tensors(model.policy.optimizer, names, tensors)
    model.num_timesteps = int(meta.get("num_timesteps", 0))
    return model


class Actor:
    """Something that picks actions for observations: a saved PPO policy or a uniform random one."""

    def __init__(self, path: str | None, observation_space: gym.Space, action_space: gym.Space, seed: int = 0):
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)
        self.model = None
        if path and path != "random":
            from stable_baselines3.common.env_util import DummyVecEnv

            dummy = DummyVecEnv([lambda: _SpaceOnlyEnv(observation_space, action_space)])
            self.model = load_policy(path, dummy)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations (n, H, W, 3)."""
        if self.model is None:
            return self.rng.integers(0, self.action_space.n, len(obs))
        return self.model.predict(obs, deterministic=deterministic)[0]


class _SpaceOnlyEnv(gym.Env):
    """Carries spaces so a PPO model can be built without a live env."""

    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}
