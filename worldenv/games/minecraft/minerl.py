"""Minecraft through MineRL 1.0: action spaces, a MultiDiscrete action wrapper, episode collection.

`minerl` is an optional extra and is imported lazily (`require_minerl`): this module imports
and its spaces, wrapper and recorder work without it. MineRL speaks the old gym API
(`env.seed`, `obs = env.reset()`, 4-tuple `step`); `record_episode` takes any such env, so
it is tested with a fake one, and `collect_minerl_episode` only adds `gym.make`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from model.recordings import EpisodeInfo, EpisodeWriter
from model.vpt import (
    MINERL_BUTTONS,
    MULTIDISCRETE_NVEC,
    check_multidiscrete,
    minerl_to_multidiscrete,
    multidiscrete_to_minerl,
)

MINERL_FPS = 20

MINERL_INSTALL_HELP = (
    "minerl is not installed. It is an optional extra: pip install -e '.[minerl]'. "
    "It needs a Java JDK 8 (java and javac on PATH) and internet access at install time, because "
    "its setup downloads Minecraft and Forge with gradle; it cannot be installed offline. "
    "Everything else in SoraWorld (VPT recordings, the Crafter game, the dream) works without it."
)


def minerl_dict_space() -> spaces.Dict:
    """MineRL 1.0's action space as a Gymnasium Dict: 23 Discrete(2) buttons + camera Box(-180, 180, (2,))."""
    entries: dict[str, spaces.Space] = {name: spaces.Discrete(2) for name in MINERL_BUTTONS}
    entries["camera"] = spaces.Box(-180.0, 180.0, shape=(2,), dtype=np.float32)
    return spaces.Dict(entries)


def minerl_multidiscrete_space() -> spaces.MultiDiscrete:
    """The flat action space: MultiDiscrete([2]*23 + [11, 11]) (buttons, pitch bin, yaw bin)."""
    return spaces.MultiDiscrete(MULTIDISCRETE_NVEC.copy())


class MultiDiscreteMineRLActions(gym.ActionWrapper):
    """Lets agents act on a MineRL-style env with the 25-long MultiDiscrete vector.

    stable-baselines3 has no Dict action support; this wrapper exposes
    `minerl_multidiscrete_space()` and turns each vector into the MineRL 1.0 action dict
    (camera at the centres of VPT's mu-law bins). The wrapped env must be a Gymnasium env whose
    action space is a Dict with the 23 MineRL buttons and `camera` (a raw MineRL env speaks old
    gym: convert it first, e.g. with shimmy's `GymV21CompatibilityV0`).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        inner = getattr(env.action_space, "spaces", None)
        expected = set(MINERL_BUTTONS) | {"camera"}
        if not isinstance(env.action_space, spaces.Dict) or set(inner) != expected:
            got = sorted(inner) if inner is not None else env.action_space
            raise ValueError(
                f"expected a Dict action space with MineRL 1.0 keys {sorted(expected)}, got {got}"
            )
        self.action_space = minerl_multidiscrete_space()

    def action(self, action) -> dict:
        """25-long vector -> MineRL action dict."""
        return multidiscrete_to_minerl(action)

    def reverse_action(self, action: dict) -> np.ndarray:
        """MineRL action dict -> 25-long vector (camera quantised)."""
        return minerl_to_multidiscrete(action)


def require_minerl():
    """Import and return `minerl`, or raise ImportError explaining how to install it."""
    try:
        import minerl  # noqa: F401 - lazy optional dependency
    except ImportError as e:
        raise ImportError(MINERL_INSTALL_HELP) from e
    return minerl


# ---------------------------------------------------------------- collection

Policy = Callable[[dict, np.random.Generator], Any]


def random_vector(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 25-long action vector (each button and each camera bin uniform)."""
    return rng.integers(0, MULTIDISCRETE_NVEC).astype(np.int64)


def _plain_inventory(inventory) -> dict:
    # MineRL gives numpy scalars/0-d arrays; json needs plain ints.
    return {str(k): int(np.asarray(v).reshape(())) for k, v in dict(inventory).items()}


def _json_action(action: dict) -> dict:
    out = {k: int(np.asarray(v).reshape(())) for k, v in action.items() if k != "camera"}
    out["camera"] = [float(c) for c in np.asarray(action["camera"], dtype=np.float64).reshape(2)]
    return out


def _check_name(name: str) -> None:
    if not name or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name.startswith("."):
        raise ValueError(
            f"episode name must be letters, digits, '.', '_' or '-' (not starting with '.'), got {name!r}"
        )


def record_episode(
    env,
    out_dir: str | Path,
    name: str,
    *,
    env_id: str,
    max_steps: int,
    rng: np.random.Generator,
    policy: str | Policy = "random",
    fps: float = MINERL_FPS,
) -> EpisodeInfo:
    """Play one episode of an old-gym MineRL-style env and write `<out_dir>/<name>.mp4` + `.jsonl`.

    The env must already be seeded. `policy` is "random" (a uniform random 25-long vector per
    step) or a callable `(obs, rng) -> 25-long vector`. The env receives
    `multidiscrete_to_minerl(vector)`, so the recorded vector is exactly the action taken
    (sampling MineRL's own Box(-180, 180) camera would turn up to 180 degrees per frame, and the
    vector could only record it clipped to 10). At most `max_steps` actions, so at most
    `max_steps + 1` frames; the last frame's `action` is null. Lines follow `model.recordings`:
    `action`, `minerl_action`, `reward` (on arriving at the frame), `done`, `caption`,
    `inventory` (when the observation has one). An exception aborts the partial files.
    """
    if isinstance(policy, str):
        if policy != "random":
            raise ValueError(f"policy must be 'random' or a callable (obs, rng) -> vector, got {policy!r}")
    elif not callable(policy):
        raise ValueError(f"policy must be 'random' or a callable (obs, rng) -> vector, got {policy!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    _check_name(name)
    caption = f"Minecraft, {env_id}"

    with EpisodeWriter(out_dir, name, fps=fps, lossless=False) as writer:
        obs = env.reset()
        if isinstance(obs, tuple):  # gym >= 0.26 returns (obs, info)
            obs = obs[0]
        reward, done = 0.0, False
        for t in range(max_steps + 1):
            last = done or t == max_steps
            vec = None
            if not last:
                vec = random_vector(rng) if policy == "random" else check_multidiscrete(policy(obs, rng))
                if vec.shape != MULTIDISCRETE_NVEC.shape:
                    raise ValueError(
                        f"policy returned shape {vec.shape}, expected {MULTIDISCRETE_NVEC.shape}"
                    )
            action = None if vec is None else multidiscrete_to_minerl(vec)
            record: dict = {
                "action": None if vec is None else vec.tolist(),
                "minerl_action": None if action is None else _json_action(action),
                "reward": float(reward),
                "done": bool(done),
                "caption": caption,
            }
            if isinstance(obs, dict) and obs.get("inventory") is not None:
                record["inventory"] = _plain_inventory(obs["inventory"])
            if not isinstance(obs, dict) or "pov" not in obs:
                raise ValueError(
                    f"step {t}: expected a MineRL observation dict with 'pov', got {type(obs).__name__}"
                )
            writer.add(np.asarray(obs["pov"], dtype=np.uint8), record)
            if last:
                break
            result = env.step(action)
            if len(result) == 5:  # gym >= 0.26: obs, reward, terminated, truncated, info
                obs, reward, terminated, truncated, _ = result
                done = bool(terminated or truncated)
            else:
                obs, reward, done, _ = result
        return writer.close(game="minerl", env_id=env_id)


def collect_minerl_episode(
    env_id: str,
    out_dir: str | Path,
    name: str,
    seed: int,
    max_steps: int,
    policy: str | Policy = "random",
) -> EpisodeInfo:
    """Collect one episode from a real MineRL env (`gym.make(env_id)`) into `out_dir`.

    Needs the optional `minerl` extra (JDK 8; see `require_minerl`). The episode is written at
    20 fps with lossy H.264 (MineRL frames are rendered 3D, not pixel art); see
    `record_episode` for the jsonl lines. Returns the episode's index entry.
    """
    if isinstance(policy, str) and policy != "random":
        raise ValueError(f"policy must be 'random' or a callable (obs, rng) -> vector, got {policy!r}")
    _check_name(name)
    require_minerl()
    import gym  # minerl registers its envs with the old `gym`, which it installs

    env = gym.make(env_id)
    try:
        env.seed(seed)
        rng = np.random.default_rng(seed)
        return record_episode(env, out_dir, name, env_id=env_id, max_steps=max_steps, rng=rng, policy=policy)
    finally:
        env.close()
