"""A scripted keyboard session through the play loop (scripts/play.py) under the dummy video driver."""

import numpy as np
import pygame
import pytest

from model.recordings import load_episode
from worldenv.games import get_game
from worldenv.play import cli as play
from worldenv.play.config import PlayConfig
from worldenv.play.session import PlaySession
from worldenv.worlds import world_frame_size


def press_keys(script: dict[int, int]):
    """An on_tick callback that presses script[tick] (a pygame key) at those ticks."""

    def on_tick(session, tick):
        if tick in script:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=script[tick], mod=0, unicode="", scancode=0))

    return on_tick


def test_scripted_keys_move_the_player_and_record(tmp_path):
    script = {2: pygame.K_a, 3: pygame.K_a, 4: pygame.K_a, 6: pygame.K_h, 8: pygame.K_F12}
    positions = []

    def on_tick(session, tick):
        positions.append(tuple(session.info["player_pos"]))
        if tick in script:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=script[tick], mod=0, unicode="", scancode=0))

    record = tmp_path / "session.mp4"
    summary = play.main(["--real", "--seed", "3", "--fps", "1000", "--max-steps", "12", "--record", str(record),
                         "--screenshot-dir", str(tmp_path / "shots")], on_tick=on_tick)
    assert summary["steps"] == 12
    # three presses of A: the player walked left (or turned, if blocked) -- x never increases
    xs = [p[0] for p in positions]
    assert xs[5] < xs[2] and xs[-1] <= xs[0]
    ep = load_episode(tmp_path, "session")
    w, h = world_frame_size(None)  # --real renders at the shipped world's size (72x72)
    assert ep.frames.shape == (13, h, w, 3)
    actions = [r["action"] for r in ep.records]
    assert actions[2:5] == [1, 1, 1] and actions[0] == 0 and actions[-1] is None
    shots = list((tmp_path / "shots").glob("*.png"))
    assert len(shots) == 1
    image = pygame.image.load(str(shots[0]))
    assert image.get_width() == w * 8
    assert np.asarray(pygame.surfarray.array3d(image)).std() > 10  # drawn, not blank


def test_play_the_dream_and_compare_side_by_side(tiny_world, tmp_path):
    shots = tmp_path / "shots"

    on_tick = press_keys({2: pygame.K_d, 4: pygame.K_F12})

    summary = play.main(["--world", str(tiny_world), "--seed", "1", "--fps", "1000", "--max-steps", "6",
                         "--screenshot-dir", str(shots)], on_tick=on_tick)
    assert summary["steps"] == 6
    summary = play.main(["--compare", "--world", str(tiny_world), "--seed", "1", "--fps", "1000", "--max-steps", "5",
                         "--screenshot-dir", str(shots / "cmp")], on_tick=on_tick)
    image = pygame.image.load(str(next((shots / "cmp").glob("*.png"))))
    assert image.get_width() == 2 * 64 * 8  # real game and dream side by side


def test_compare_renders_the_real_game_at_a_tile_aligned_worlds_size(tmp_path):
    """A 72x72 world (one latent cell per tile, moves fed to the DiT): the real game of --compare
    renders at 72x72 too, and a D press steps both."""
    from conftest import build_tiny_world

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True)
    shots = tmp_path / "shots"

    on_tick = press_keys({1: pygame.K_d, 3: pygame.K_F12})

    summary = play.main(["--compare", "--world", str(world), "--seed", "1", "--fps", "1000", "--max-steps", "4",
                         "--screenshot-dir", str(shots)], on_tick=on_tick)
    assert summary["steps"] == 4
    image = pygame.image.load(str(next(shots.glob("*.png"))))
    assert image.get_width() == 2 * 72 * 8


def test_agent_plays_and_m_hands_control_back(tiny_world, tmp_path):
    from agents.dream_ppo import AgentConfig, train

    policy = train(AgentConfig(env="dream", world=str(tiny_world), out=str(tmp_path / "agent"), timesteps=16,
                               num_envs=2, n_steps=8, batch_size=16, n_epochs=1))
    modes = []

    def on_tick(session, tick):
        modes.append(session.agent_playing)
        if tick == 3:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_m, mod=0, unicode="", scancode=0))

    play.main(["--world", str(tiny_world), "--agent", str(policy), "--fps", "1000", "--max-steps", "6"],
              on_tick=on_tick)
    assert modes[:4] == [True] * 4 and modes[-1] is False


def test_minecraft_controls_build_minerl_vectors():
    from model.vpt import MINERL_BUTTONS, N_BUTTONS, bins_to_camera

    pygame.init()
    controls = get_game("minecraft").controller()
    vec = controls.action({pygame.K_w, pygame.K_SPACE, pygame.K_LSHIFT, pygame.K_3}, {1}, (40.0, -10.0), None)
    on = {MINERL_BUTTONS[i] for i in range(N_BUTTONS) if vec[i]}
    assert on == {"forward", "jump", "sneak", "hotbar.3", "attack"}
    pitch, yaw = bins_to_camera(vec[N_BUTTONS:])
    assert yaw > 0 and pitch < 0  # mouse right turns right, mouse up looks up
    assert controls.action(set(), set(), (0.0, 0.0), None).tolist() == [0] * N_BUTTONS + [5, 5]


def test_play_loop_drives_a_minecraft_action_space():
    import gymnasium as gym

    from model.vpt import MULTIDISCRETE_NVEC

    class FakeMinecraft(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (32, 48, 3), np.uint8)
        action_space = gym.spaces.MultiDiscrete(MULTIDISCRETE_NVEC)

        def __init__(self):
            self.actions = []

        def reset(self, *, seed=None, options=None):
            return np.zeros((32, 48, 3), np.uint8), {}

        def step(self, action):
            assert self.action_space.contains(np.asarray(action))
            self.actions.append(np.asarray(action))
            return np.zeros((32, 48, 3), np.uint8), 0.0, False, False, {}

    env = FakeMinecraft()

    def on_tick(session, tick):
        if tick == 1:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w", scancode=0))
            pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(10, 10), rel=(30, 0), buttons=(0, 0, 0)))
        if tick == 3:
            pygame.event.post(pygame.event.Event(pygame.KEYUP, key=pygame.K_w, mod=0, unicode="w", scancode=0))

    cfg = PlayConfig(fps=1000, max_steps=4)
    PlaySession(env, cfg, get_game("minecraft").controller(), on_tick=on_tick).run()
    from model.vpt import MINERL_BUTTONS

    i = MINERL_BUTTONS.index("forward")
    assert [int(a[i]) for a in env.actions] == [0, 1, 1, 0]
    assert env.actions[1][-1] > 5 and env.actions[2][-1] == 5  # the turn happened on one tick only


def test_play_the_real_minetest_with_keys_and_mouse(tmp_path):
    """`play.py --real --game minetest`: W walks forward, the mouse turns the camera, and `--record`
    writes a Minetest recording whose actions load back."""
    from test_minetest_env import game_missing

    if game_missing():
        pytest.skip(game_missing())
    yaws = []

    def on_tick(session, tick):
        yaws.append(session.info.get("pose", {}).get("yaw"))
        if tick == 2:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w", scancode=0))
        if tick == 8:
            pygame.event.post(pygame.event.Event(pygame.KEYUP, key=pygame.K_w, mod=0, unicode="w", scancode=0))
            pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(10, 10), rel=(40, 0), buttons=(0, 0, 0)))

    record = tmp_path / "mt.mp4"
    summary = play.main(["--real", "--game", "minetest", "--seed", "6", "--fps", "20", "--max-steps", "12",
                         "--record", str(record)], on_tick=on_tick)
    assert summary["steps"] == 12
    ep = load_episode(tmp_path, "mt")
    assert ep.frames.shape[1:] == (120, 160, 3)
    from model.vpt import MINERL_BUTTONS

    forward = [r["action"][MINERL_BUTTONS.index("forward")] for r in ep.records[:-1]]
    assert forward[3:8] == [1] * 5 and forward[0] == 0
    assert yaws[-1] is not None and yaws[-1] != yaws[2]  # the mouse turned the camera
