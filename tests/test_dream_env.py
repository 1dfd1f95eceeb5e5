"""SoraWorld-v0: registration, env checkers, determinism, start modes, vector env, bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldenv
from worldenv.dream_env import DreamEnv


def test_make_and_gymnasium_env_checker(tiny_world):
    env = gym.make(worldenv.DREAM_ID, world=str(tiny_world))
    assert env.action_space == gym.spaces.Discrete(17)
    assert env.observation_space.shape == (64, 64, 3)
    check_env(env.unwrapped, skip_render_check=False)


def test_a_tile_aligned_world_passes_the_env_checker(tmp_path):
    from conftest import build_tiny_world

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True)
    env = gym.make(worldenv.DREAM_ID, world=str(world))
    assert env.observation_space.shape == (72, 72, 3)
    check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    for a in (1, 2, 3, 4, 5):
        obs, *_ = env.step(a)
    assert obs.shape == (72, 72, 3) and obs.dtype == np.uint8


def test_module_qualified_id(tiny_world):
    env = gym.make("worldenv:SoraWorld-v0", world=str(tiny_world))
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and set(info["inventory"]) >= {"health", "wood"}


def test_sb3_env_checker(tiny_world):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(DreamEnv(world=tiny_world), warn=True)


def test_seeded_episodes_are_identical(tiny_world):
    env = DreamEnv(world=tiny_world)

    def run(seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for a in [1, 2, 5, 0, 3]:
            obs, r, *_ = env.step(a)
            out.append(obs)
        return np.stack(out)

    a, b, c = run(7), run(7), run(8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_start_from_image_of_any_size_and_mode(tiny_world):
    env = DreamEnv(world=tiny_world)
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    obs, _ = env.reset(seed=0, options={"image": rgb})
    assert np.array_equal(obs, rgb)
    for img in [np.zeros((32, 48, 3), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64), np.uint8),
                np.full((64, 64, 3), 12.0)]:
        obs, _ = env.reset(options={"image": img})
        assert obs.shape == (64, 64, 3)
    for bad, msg in [(np.full((64, 64, 3), np.nan), "NaN"), (np.zeros((64, 64, 5), np.uint8), "shape"),
                     (np.full((64, 64, 3), 300.0), "0..255"), ("/no/such.png", "does not exist")]:
        with pytest.raises(ValueError, match=msg):
            env.reset(options={"image": bad})
    obs, _ = env.reset(seed=1, options={"prompt": "a forest at night"})  # the tiny world has captions
    assert obs.shape == (64, 64, 3)
    with pytest.raises(ValueError, match="at most"):
        env.reset(options={"prompt": "night " * 1000})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"imagee": rgb})


@pytest.mark.parametrize("bad", [17, -1, 1.5, "do", None, np.array([1, 2])])
def test_bad_actions_name_the_space(tiny_world, bad):
    env = DreamEnv(world=tiny_world)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete\\(17\\)"):
        env.step(bad)


def test_missing_world_says_how_to_get_one(tmp_path):
    with pytest.raises(ValueError, match="train_world.py"):
        DreamEnv(world=tmp_path / "nothing")


def test_truncation(tiny_world):
    env = DreamEnv(world=tiny_world, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_vector_env_matches_single_envs(tiny_world):
    venv = gym.make_vec(worldenv.DREAM_ID, num_envs=3, world=str(tiny_world), bf16=False)
    assert type(venv).__name__ == "DreamVectorEnv"
    seeds = [11, 12, 13]
    obs, _ = venv.reset(seed=seeds)
    assert obs.shape == (3, 64, 64, 3)
    actions = [np.array([1, 2, 3]), np.array([5, 0, 4]), np.array([16, 6, 2])]
    vec = np.stack([obs] + [venv.step(a)[0] for a in actions], 1)  # (3, 4, 64, 64, 3)
    for i, seed in enumerate(seeds):
        env = DreamEnv(world=tiny_world, bf16=False)
        single = [env.reset(seed=seed)[0]] + [env.step(int(a[i]))[0] for a in actions]
        diff = np.abs(np.stack(single).astype(int) - vec[i].astype(int))
        assert diff.max() <= 2, f"env {i}: batched and single dreams differ by {diff.max()}"  # float rounding only


def test_vector_env_autoreset_and_bad_actions(tiny_world):
    from worldenv.dream_vector_env import DreamVectorEnv

    venv = DreamVectorEnv(num_envs=2, world=tiny_world, max_episode_steps=2)
    venv.reset(seed=0)
    venv.step(np.array([0, 1]))
    obs, rew, term, trunc, info = venv.step(np.array([0, 1]))
    assert (term | trunc).all() and info["_final_obs"].all()
    bank_last = venv.world.start_frames[:, -1].numpy()
    assert all(any(np.array_equal(o, b) for b in bank_last) for o in obs)  # restarted in the same step
    venv.step(np.array([2, 3]))  # the restarted dreams go on
    with pytest.raises(ValueError, match="batched action space"):
        venv.step(np.array([0, 17]))
    with pytest.raises(ValueError, match="batched action space"):
        venv.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="integers"):
        venv.step(np.array([0.5, 1.0]))


def test_shipped_world_needs_no_arguments():
    env = gym.make(worldenv.DREAM_ID)
    obs, info = env.reset(seed=0)
    assert obs.shape == (72, 72, 3) and env.action_space == gym.spaces.Discrete(17)  # the tile-aligned world
    check_env(env.unwrapped, skip_render_check=True)
    obs, reward, terminated, truncated, info = env.step(3)
    assert obs.dtype == np.uint8 and isinstance(reward, float)


def test_prompt_start_needs_a_caption_trained_world(tiny_world):
    from model.dit import DiTConfig, SpacetimeDiT
    from model.rollout import WorldModel

    w = WorldModel.load(tiny_world)
    w.dit = SpacetimeDiT(DiTConfig(action_nvec=(17,), latent_channels=4, patch=2, dim=32, depth=2, heads=2, window=6)).eval()
    env = DreamEnv(_world_model=w)
    with pytest.raises(ValueError, match="without captions"):
        env.reset(options={"prompt": "a forest at night"})


def test_rollout_settings_pass_through_the_envs(tiny_world):
    """The kwargs that override a world's stored dreaming settings reach its DreamRollout."""
    kw = {"context_sigma": 0.1, "reground": True, "guidance": 2.0, "start_sigma": 0.5}
    with pytest.warns(UserWarning, match="does not know the moves"):  # the tiny world has no view_moves
        envs = (DreamEnv(world=tiny_world, **kw), gym.make_vec(worldenv.DREAM_ID, num_envs=2, world=str(tiny_world), **kw))
    for env in envs:
        roll = env.rollout
        assert (roll.context_sigma, roll.reground, roll.guidance, roll.start_sigma) == (0.1, True, 2.0, 0.5)


def test_start_from_a_prompt_video_remembers_all_of_it(tmp_path):
    """reset(options={"video": ..., "actions": ...}): the dream goes on from the video's last frame and
    the game's rules remember every frame of it: a tree the video's first frame showed, ten tiles
    left of where its player ends (eight steps right), is in the memory of the world seen. Bad videos and actions are
    refused with what was expected."""
    from conftest import build_tiny_world
    from test_crafter_terrain import _pen

    from worldenv.games.crafter.ledger import ACTIONS

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True, view_rows=7)
    env = DreamEnv(world=world)
    game, obs = _pen()
    right = ACTIONS.index("move_right")
    frames, actions = [obs], [-1]
    for _ in range(8):  # longer than the tiny world's context (5)
        frames.append(game.step(right)[0])
        actions.append(right)
    video = np.array(frames)
    shown, _ = env.reset(seed=0, options={"video": video, "actions": actions})
    assert shown.shape == (72, 72, 3)
    names, memory = env.rules.parser.template_names, env.rules.memory
    memory.move(np.array([[-9, 0]]))  # the view one tile left of where the video's player started
    assert names[memory.recall([0])[0][3, 3]] == "tree"  # the tree two tiles left of the start
    memory.move(np.array([[9, 0]]))
    env.reset(seed=0, options={"video": video})  # no actions: the steps are read off the frames
    memory.move(np.array([[-9, 0]]))
    assert names[memory.recall([0])[0][3, 3]] == "tree"
    memory.move(np.array([[9, 0]]))
    obs, *_ = env.step(right)
    assert obs.shape == (72, 72, 3)
    shown, _ = env.reset(seed=0, options={"video": video[:2]})  # shorter than the context, no actions
    assert shown.shape == (72, 72, 3)
    for opts, msg in [({"video": video[..., :2]}, "prompt video must be"),
                      ({"video": video.astype(np.float32)}, "uint8"),
                      ({"video": video[:, :64, :64]}, "at this world's size"),
                      ({"video": video, "actions": actions[:-1]}, "9 integer actions"),
                      ({"video": video, "actions": [17] * 9}, "out of range"),
                      ({"actions": actions}, "goes with 'video'")]:
        with pytest.raises(ValueError, match=msg):
            env.reset(options=opts)


def test_a_still_image_stands_still_in_the_games_own_noop():
    """The frames of a still image (and the padding of a short prompt video) carry the game's
    do-nothing action: Crafter's noop is 0, but in the MineRL layout 0 is a full camera turn."""
    from model.vpt import CAMERA_CENTER_BIN, MULTIDISCRETE_NVEC, N_BUTTONS
    from worldenv.games import get_game
    from worldenv.start_states import prompt_video_clip, still_clip

    noop = get_game("minetest").noop_action()
    assert noop[:N_BUTTONS].tolist() == [0] * N_BUTTONS and noop[N_BUTTONS:].tolist() == [CAMERA_CENTER_BIN] * 2
    frame = np.zeros((24, 32, 3), np.uint8)
    _, acts = still_clip(frame, 4, noop)
    assert acts[0].tolist() == [-1] * len(noop) and (acts[1:] == noop).all()
    _, acts = prompt_video_clip(frame[None], None, frame.shape, MULTIDISCRETE_NVEC, 4, noop)
    assert (acts[1:] == noop).all()
    assert get_game("crafter").noop_action().tolist() == [0]


def test_every_shipped_world_loads_and_is_under_25_mb():
    from worldenv.worlds import shipped_worlds, world_frame_size, world_path

    assert "crafter72" in shipped_worlds()
    for name in shipped_worlds():
        size = sum(p.stat().st_size for p in world_path(name).iterdir())
        assert size < 25e6, f"{name}: {size / 1e6:.1f} MB"
        env = gym.make(worldenv.DREAM_ID, world=name)
        w, h = world_frame_size(name)
        assert env.observation_space.shape == (h, w, 3)
