"""Long runs: memory stays flat and nothing turns NaN (the 10,000-step run is marked slow)."""

import numpy as np
import pytest

from worldenv.bench import rss_mb
from worldenv.dream_env import DreamEnv
from worldenv.dream_vector_env import DreamVectorEnv
from worldenv.worlds import SHIPPED_WORLD


def test_hundred_episodes_of_the_vector_env_keep_memory_flat(tiny_world):
    venv = DreamVectorEnv(num_envs=4, world=tiny_world, max_episode_steps=5)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    episodes, rss = 0, []
    while episodes < 100:
        obs, rew, term, trunc, _ = venv.step(rng.integers(0, 17, 4))
        episodes += int((term | trunc).sum())
        assert np.isfinite(rew).all() and obs.dtype == np.uint8
        rss.append(rss_mb())
    assert rss[-1] - rss[len(rss) // 4] < 20  # MB: no growth per episode


@pytest.mark.slow
def test_ten_thousand_dream_steps_flat_memory():
    world = SHIPPED_WORLD if (SHIPPED_WORLD / "dit.safetensors").exists() else None
    if world is None:
        pytest.skip("no shipped world")
    env = DreamEnv(world=world, max_episode_steps=20_000)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    rss, means = [], []
    for t in range(10_000):
        obs, r, term, trunc, _ = env.step(int(rng.integers(17)))
        assert np.isfinite(r)
        if term:  # the model may end the episode: start again, the run goes on
            env.reset()
        if t % 1000 == 999:
            rss.append(rss_mb())
            means.append(float(obs.mean()))
    print("RSS MB every 1000 steps:", [round(x, 1) for x in rss], "frame means:", [round(m, 1) for m in means])
    assert rss[-1] - rss[0] < 30
