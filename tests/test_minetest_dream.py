"""The dream of a 3D game as users meet it: `gym.make("SoraWorld-v0", world=...)` for a Minetest
world (the real game's spaces, the env checkers, batched dreams, starts from an image or a video),
and `play.py` with mouse look, its HUD and `--compare` against the real Minetest."""

import gymnasium as gym
import numpy as np
import pygame
import pytest
from conftest import build_tiny_minetest_world
from gymnasium.utils.env_checker import check_env

import worldenv
from model.vpt import MINERL_BUTTONS, N_BUTTONS
from worldenv.games import get_game
from worldenv.play import cli as play
from worldenv.worlds import shipped_worlds

FORWARD = MINERL_BUTTONS.index("forward")


@pytest.fixture(scope="module")
def mt_world(tmp_path_factory):
    return build_tiny_minetest_world(tmp_path_factory.mktemp("mtworld"))


def test_the_dream_has_the_real_games_spaces_and_passes_the_checkers(mt_world):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(worldenv.DREAM_ID, world=str(mt_world))
    real = get_game("minetest").make_real_env((64, 48))  # not started: spaces only
    try:
        assert env.observation_space == real.observation_space
        assert env.action_space == real.action_space
    finally:
        real.close()
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    obs, info = env.reset(seed=0)
    action = get_game("minetest").noop_action()
    action[FORWARD], action[-1] = 1, 8  # walk and turn right
    obs2, reward, terminated, truncated, info = env.step(action)
    assert obs2.shape == (48, 64, 3) and np.isfinite(reward)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        env.step(np.zeros(N_BUTTONS, np.int64))  # the camera parts are missing
    with pytest.raises(ValueError, match="MultiDiscrete"):
        env.step(np.array([2] + [0] * (N_BUTTONS - 1) + [5, 5]))  # a button is 0 or 1


def test_batched_dreams_and_starts_from_an_image_and_a_video(mt_world):
    venv = gym.make_vec(worldenv.DREAM_ID, num_envs=3, world=str(mt_world))
    assert type(venv).__name__ == "DreamVectorEnv"
    obs, _ = venv.reset(seed=[1, 2, 3])
    assert obs.shape == (3, 48, 64, 3)
    obs, rew, term, trunc, info = venv.step(np.stack([get_game("minetest").noop_action()] * 3))
    assert obs.shape == (3, 48, 64, 3) and rew.shape == (3,)
    venv.close()

    env = gym.make(worldenv.DREAM_ID, world=str(mt_world))
    image = np.zeros((96, 128, 3), np.uint8)  # another size of the same aspect: resized
    image[:, 64:] = 200
    obs, _ = env.reset(seed=0, options={"image": image})
    assert obs.shape == (48, 64, 3) and obs[:, :30].mean() < 20 and obs[:, 34:].mean() > 180
    video = np.random.default_rng(0).integers(0, 255, (6, 48, 64, 3), dtype=np.uint8)
    actions = np.tile(get_game("minetest").noop_action(), (6, 1))
    obs, _ = env.reset(seed=0, options={"video": video, "actions": actions})
    assert np.array_equal(obs, video[-1])  # the dream goes on from the video's last frame
    with pytest.raises(ValueError, match="actions"):
        env.reset(seed=0, options={"video": video, "actions": actions[:, :5]})


def mouse_and_keys(script):
    """An on_tick callback posting script[tick] (a list of pygame events) at those ticks."""

    def on_tick(session, tick):
        for event in script.get(tick, []):
            pygame.event.post(event)

    return on_tick


def test_play_the_3d_dream_with_mouse_look_and_the_hud(mt_world, tmp_path):
    actions, huds = [], []
    script = {1: [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w", scancode=0),
                  pygame.event.Event(pygame.MOUSEMOTION, pos=(5, 5), rel=(40, -12), buttons=(0, 0, 0))],
              3: [pygame.event.Event(pygame.KEYUP, key=pygame.K_w, mod=0, unicode="w", scancode=0),
                  pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(5, 5), button=1)]}
    on = mouse_and_keys(script)

    def on_tick(session, tick):
        huds.append(session.last_action)
        on(session, tick)

    record = tmp_path / "dream.mp4"
    summary = play.main(["--world", str(mt_world), "--seed", "0", "--max-steps", "5", "--fps", "1000",
                         "--record", str(record)], on_tick=on_tick)
    assert summary["steps"] == 5
    from model.recordings import load_episode

    ep = load_episode(tmp_path, "dream")
    actions = np.array([r["action"] for r in ep.records[:-1]])
    assert actions.shape == (5, N_BUTTONS + 2)
    assert actions[1:3, FORWARD].tolist() == [1, 1] and actions[0, FORWARD] == 0
    assert actions[1, -1] > 5 and actions[1, -2] < 5 and actions[2, -1] == 5  # turned right and up, once
    assert actions[3:, MINERL_BUTTONS.index("attack")].tolist() == [1, 1]
    assert huds[2].startswith("forward | yaw +") and huds[4].startswith("attack")  # the HUD names the action


def test_play_runs_at_the_games_own_rate():
    assert get_game("minetest").fps == 20.0 and get_game("crafter").fps == 10.0
    from worldenv.play.config import PlayConfig
    from worldenv.play.session import PlaySession

    with pytest.raises(ValueError, match="fps"):
        PlaySession(None, PlayConfig(), get_game("minetest").controller())


def test_compare_the_real_minetest_and_its_dream_side_by_side(mt_world, tmp_path):
    from test_minetest_env import game_missing

    if game_missing():
        pytest.skip(game_missing())
    shots = tmp_path / "shots"
    script = {2: [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w", scancode=0)],
              5: [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_F12, mod=0, unicode="", scancode=0)]}
    summary = play.main(["--compare", "--world", str(mt_world), "--seed", "4", "--max-steps", "8",
                         "--screenshot-dir", str(shots)], on_tick=mouse_and_keys(script))
    assert summary["steps"] == 8
    image = pygame.image.load(str(next(shots.glob("*.png"))))
    assert image.get_width() == 2 * 64 * 8  # the real game renders at the dream's 64x48, side by side
    shot = np.asarray(pygame.surfarray.array3d(image)).transpose(1, 0, 2)
    real, dream = shot[: 48 * 8, : 64 * 8], shot[: 48 * 8, 64 * 8:]
    assert real.std() > 10 and dream.std() > 5 and np.abs(real.astype(int) - dream.astype(int)).mean() > 1


@pytest.mark.skipif("minetest" not in shipped_worlds(), reason="no Minetest world shipped in this checkout")
def test_the_shipped_minetest_world_by_name():
    env = gym.make(worldenv.DREAM_ID, world="minetest")
    real = get_game("minetest").make_real_env((96, 72))
    try:
        assert env.observation_space == real.observation_space and env.action_space == real.action_space
    finally:
        real.close()
    obs, info = env.reset(seed=0)
    assert obs.shape == (72, 96, 3) and obs.std() > 5  # a held-out recording's frame
    for _ in range(8):
        obs, *_ = env.step(env.action_space.sample())
    assert obs.std() > 5
