"""A scripted keyboard session through scripts/play.py under the dummy video driver."""

import numpy as np
import play
import pygame

from model.recordings import load_episode


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
    assert ep.frames.shape == (13, 64, 64, 3)
    actions = [r["action"] for r in ep.records]
    assert actions[2:5] == [1, 1, 1] and actions[0] == 0 and actions[-1] is None
    shots = list((tmp_path / "shots").glob("*.png"))
    assert len(shots) == 1
    image = pygame.image.load(str(shots[0]))
    assert image.get_width() == 64 * 8
    assert np.asarray(pygame.surfarray.array3d(image)).std() > 10  # drawn, not blank


def test_play_the_dream_and_compare_side_by_side(tiny_world, tmp_path):
    shots = tmp_path / "shots"

    def on_tick(session, tick):
        if tick == 2:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_d, mod=0, unicode="", scancode=0))
        if tick == 4:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_F12, mod=0, unicode="", scancode=0))

    summary = play.main(["--world", str(tiny_world), "--seed", "1", "--fps", "1000", "--max-steps", "6",
                         "--screenshot-dir", str(shots)], on_tick=on_tick)
    assert summary["steps"] == 6
    summary = play.main(["--compare", "--world", str(tiny_world), "--seed", "1", "--fps", "1000", "--max-steps", "5",
                         "--screenshot-dir", str(shots / "cmp")], on_tick=on_tick)
    image = pygame.image.load(str(next((shots / "cmp").glob("*.png"))))
    assert image.get_width() == 2 * 64 * 8  # real game and dream side by side


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
