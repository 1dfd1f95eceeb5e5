"""The real Crafter game as a Gymnasium env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldenv
from worldenv.games.crafter.env import ACTION_NAMES, CrafterEnv


def test_make_and_env_checker():
    env = gym.make(worldenv.CRAFTER_ID)
    check_env(env.unwrapped, skip_render_check=False)
    assert env.action_space == gym.spaces.Discrete(17)
    assert env.observation_space.shape == (64, 64, 3)


def test_module_qualified_id_works_without_import():
    env = gym.make("worldenv:SoraWorld/Crafter-v1")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8


def test_seeded_reset_is_deterministic_and_seeds_differ():
    env = CrafterEnv(area=(32, 32))
    a = [env.reset(seed=3)[0]] + [env.step(i % 17)[0] for i in range(30)]
    b = [env.reset(seed=3)[0]] + [env.step(i % 17)[0] for i in range(30)]
    c = env.reset(seed=4)[0]
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert not (a[0] == c).all()


def test_step_five_tuple_and_info_copies():
    env = CrafterEnv(area=(32, 32))
    _, info = env.reset(seed=0)
    pos = info["player_pos"].copy()
    obs, reward, terminated, truncated, info2 = env.step(ACTION_NAMES.index("move_left"))
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    # the first info must not have changed under us (crafter hands out live arrays)
    assert (info["player_pos"] == pos).all()
    assert info2["player_pos"][0] in (pos[0], pos[0] - 1)
    assert "caption" in info2 and info2["caption"].endswith("/9.")


def test_truncation_at_length():
    env = CrafterEnv(area=(32, 32), length=5)
    env.reset(seed=1)
    for _ in range(4):
        assert not env.step(0)[3]
    _, _, terminated, truncated, _ = env.step(0)
    assert truncated and not terminated


@pytest.mark.parametrize("bad", [17, -1, 2.5, "move_left", None, np.array([1, 2])])
def test_bad_actions_are_rejected_with_the_space(bad):
    env = CrafterEnv(area=(32, 32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete"):
        env.step(bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="render_mode"):
        CrafterEnv(render_mode="bogus")
    with pytest.raises(ValueError, match="non-square"):
        CrafterEnv(size=(64, 48), view=(9, 9))


def test_widescreen_native_size():
    env = CrafterEnv(size=(117, 81), view=(13, 9), area=(32, 32))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (81, 117, 3)
    assert env.observation_space.contains(obs)


def test_seeded_game_is_identical_across_processes():
    """Crafter picks creatures to despawn from Python sets; the wrapper makes that order fixed."""
    import subprocess
    import sys

    code = (
        "import hashlib, numpy as np\n"
        "from worldenv.games.crafter.env import CrafterEnv\n"
        "env = CrafterEnv(area=(32, 32)); env.reset(seed=5); rng = np.random.default_rng(0); h = hashlib.md5()\n"
        "for t in range(1500):\n"
        "    obs, r, te, tr, _ = env.step(int(rng.integers(17)) if t % 3 else 0); h.update(obs.tobytes())\n"
        "    if te or tr: env.reset(seed=t)\n"
        "print(h.hexdigest())\n"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1
