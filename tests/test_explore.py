"""The scripted explore policy: valid and varied actions, better than random, deterministic, shelters.

Measured before writing the asserts (CrafterEnv 64x64, 10 episodes of up to 1000 steps): random
lived 150-176 steps and unlocked 2.1-2.4 achievements per episode; explore lived 431-602 steps and
unlocked 14.0-15.7 (two runs; crafter is not reproducible across runs, so the numbers move).
At 32x32 and 300 steps (what runs here), over 30 seeds explore averaged 12.1 achievements per
episode and random 2.0 (at most 4), so the comparisons below have a wide margin.
"""

import numpy as np
import pytest

from agents.explore import DIRS, MAT, SLEEP, ExplorePolicy
from worldenv.games.crafter.env import ACTION_NAMES, CrafterEnv

SEEDS, STEPS = (0, 1, 2), 300
MOVES = {1, 2, 3, 4}


def rollout(act, reset, seed):
    """One episode in a small world: the actions, the infos they were chosen from, the achievements."""
    env = CrafterEnv(area=(32, 32), captions=False)
    _, info = env.reset(seed=seed)
    reset()
    actions, infos = [], []
    for _ in range(STEPS):
        action = act(info)
        actions.append(action)
        infos.append(info)
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return actions, infos, {k for k, v in info["achievements"].items() if v > 0}


@pytest.fixture(scope="module")
def explore_runs():
    policy = ExplorePolicy(seed=7)
    return [rollout(policy.act, policy.reset, seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def random_runs():
    rng = np.random.default_rng(7)
    return [rollout(lambda info: int(rng.integers(len(ACTION_NAMES))), lambda: None, seed) for seed in SEEDS]


def test_actions_are_valid_ints(explore_runs):
    actions = [a for run in explore_runs for a in run[0]]
    assert actions and all(type(a) is int and 0 <= a < len(ACTION_NAMES) for a in actions)


def test_uses_much_more_than_moves(explore_runs):
    used = {a for run in explore_runs for a in run[0]}
    assert len(used - MOVES) >= 8, sorted(ACTION_NAMES[a] for a in used)
    assert ACTION_NAMES.index("do") in used


def test_unlocks_more_achievements_than_random(explore_runs, random_runs):
    explore = [run[2] for run in explore_runs]
    random = [run[2] for run in random_runs]
    assert len(set().union(*explore)) > len(set().union(*random)), (explore, random)
    assert np.mean([len(a) for a in explore]) > np.mean([len(a) for a in random]) + 2
    assert {"collect_wood", "place_table", "make_wood_pickaxe"} <= set().union(*explore)


def test_same_seed_same_actions(explore_runs):
    # Crafter itself is not bit-reproducible across runs (it iterates sets of objects), so the check
    # replays the recorded infos: a fresh policy with the same seed must choose the same actions.
    def replay(seed):
        policy = ExplorePolicy(seed=seed)
        out = []
        for _, infos, _ in explore_runs:
            policy.reset()
            out.append([policy.act(info) for info in infos])
        return out

    assert replay(7) == [run[0] for run in explore_runs]
    assert replay(8) != replay(7)


@pytest.mark.parametrize("facing", DIRS)
def test_walls_itself_in_to_sleep_on_open_ground(facing):
    env = CrafterEnv(area=(32, 32), captions=False)
    env.reset(seed=3)
    world, player = env.game._world, env.game._player

    def alone():  # no creatures, so no fight interrupts the plan; the info the policy sees
        for obj in world.objects:
            if obj is not player:
                world.remove(obj)
        return env._info(reward=0.0)

    x, y = player.pos
    for i in range(x - 4, x + 5):
        for j in range(y - 4, y + 5):
            world[(i, j)] = "grass"
    player.inventory.update(stone=9, energy=2, wood_pickaxe=1)
    player.facing = facing
    info = alone()
    policy = ExplorePolicy(seed=0, epsilon=0.0)
    actions = []
    for _ in range(20):
        actions.append(policy.act(info))
        env.step(actions[-1])
        info = alone()
        if info["sleeping"]:
            break
    assert info["sleeping"] and actions[-1] == SLEEP, [ACTION_NAMES[a] for a in actions]
    # Nothing that walks can reach the player: the open area around it is a 2x2 pocket at most.
    px, py = info["player_pos"]
    open_ids = [MAT[m] for m in ("grass", "sand", "path")]
    seen, todo = {(px, py)}, [(px, py)]
    while todo:
        cx, cy = todo.pop()
        for dx, dy in DIRS:
            p = (cx + dx, cy + dy)
            if p not in seen and info["semantic"][p] in open_ids:
                seen.add(p)
                todo.append(p)
    assert len(seen) <= 4
