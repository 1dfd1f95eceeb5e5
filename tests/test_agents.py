"""Agents: PPO in the dream (tiny world), safetensors policy checkpoints, real-game evaluation."""

import json

import gymnasium as gym
import numpy as np
import pytest

from agents.dream_ppo import AgentConfig, make_vec_env, parse_args, train
from agents.evaluate import crafter_score, evaluate_policy, run_episodes
from agents.policy_io import Actor
from model.checkpoint import CheckpointError


def test_crafter_score_formula():
    assert crafter_score(np.zeros(22)) == pytest.approx(0.0)
    assert crafter_score(np.full(22, 100.0)) == pytest.approx(100.0)
    rates = np.array([50.0] + [0.0] * 21)
    assert crafter_score(rates) == pytest.approx(np.exp(np.log(51) / 22) - 1)


def test_dream_ppo_trains_resumes_and_plays_the_real_game(tiny_world, tmp_path):
    cfg = AgentConfig(env="dream", world=str(tiny_world), out=str(tmp_path / "agent"), timesteps=64, num_envs=4,
                      dream_horizon=8, n_steps=8, batch_size=16, n_epochs=1, ckpt_every=32)
    policy = train(cfg)
    progress = (tmp_path / "agent" / "progress.csv").read_text()
    assert "train/value_loss" in progress
    cfg.timesteps, cfg.resume = 96, True
    train(cfg)
    assert "train/value_loss" in (tmp_path / "agent" / "progress_until_64.csv").read_text()  # not truncated
    cfg.timesteps = 96
    train(cfg)  # nothing left to learn: the logs stay as they are
    assert (tmp_path / "agent" / "progress.csv").stat().st_size > 0
    meta = json.loads((tmp_path / "agent" / "config.json").read_text())
    assert meta["timesteps"] == 96
    r = evaluate_policy(str(policy), episodes=2, out=str(tmp_path / "eval"), progress=False)
    assert r["episodes"] == 2 and len(r["success_rates"]) == 22
    assert (tmp_path / "eval" / "success_rates.png").stat().st_size > 0
    again = evaluate_policy(str(policy), episodes=2, progress=False)
    assert again["mean_reward"] == r["mean_reward"] and again["mean_length"] == r["mean_length"]  # one number per policy


def test_dream_guidance_flag_reaches_the_rollout(tiny_world):
    """--guidance sets the dream's action guidance (typed as a float); left out, the world's own."""
    assert parse_args([]).guidance is None
    cfg = parse_args(["--world", str(tiny_world), "--guidance", "1.5", "--num-envs", "2"])
    assert cfg.guidance == 1.5
    venv = make_vec_env(cfg)
    try:
        assert venv.venv.venv.rollout.guidance == 1.5  # VecMonitor -> SB3 adapter -> DreamVectorEnv
    finally:
        venv.close()
    with pytest.raises(SystemExit):
        parse_args(["--guidance", "strong"])
    assert parse_args([]).rules == ("game",)
    cfg = parse_args(["--world", str(tiny_world), "--num-envs", "2", "--rules", "inventory", "terrain", "daylight",
                      "attacks"])
    venv = make_vec_env(cfg)
    try:
        assert venv.venv.venv.rules.attacks  # the flag reaches the dream's rules (the ledger)
    finally:
        venv.close()


def test_policy_for_other_spaces_is_rejected(tiny_world, tmp_path):
    cfg = AgentConfig(env="dream", world=str(tiny_world), out=str(tmp_path / "agent"), timesteps=32, num_envs=4,
                      n_steps=8, batch_size=16, n_epochs=1)
    policy = train(cfg)
    with pytest.raises(CheckpointError, match="Discrete.*this env has.*Discrete"):
        Actor(str(policy), gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), gym.spaces.Discrete(5))
    with pytest.raises(CheckpointError, match="shape.*32"):
        Actor(str(policy), gym.spaces.Box(0, 255, (32, 32, 3), np.uint8), gym.spaces.Discrete(17))


def test_random_policy_in_real_game_same_seeds_same_result():
    rng_policy = lambda obs: np.zeros(len(obs), int)  # noqa: E731 - a fixed policy: noop
    a = run_episodes(rng_policy, 2, seed=3, num_envs=2, max_steps=50)
    b = run_episodes(rng_policy, 2, seed=3, num_envs=2, max_steps=50)
    assert a == b and a["mean_length"] == 50


@pytest.mark.slow  # ~50 s: trains and scores three agents over two seeds
def test_compare_agents_table_over_seeds_and_reuse_of_finished_runs(tiny_world, tmp_path, capsys, monkeypatch):
    from agents import compare as compare_agents

    args = ["--world", str(tiny_world), "--real-frames", "32", "--dream-steps", "32", "--episodes", "2",
            "--num-envs", "2", "--seeds", "0", "1", "--out", str(tmp_path / "cmp")]
    result = compare_agents.main(args)
    assert set(result["runs"]) == {"random", "ppo_real_s0", "ppo_real_s1", "ppo_dream_s0", "ppo_dream_s1"}
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved["runs"]["random"]["episodes"] == 2 and saved["runs"]["ppo_dream_s1"]["seed"] == 1
    dream = saved["summary"]["ppo_dream"]
    scores = [saved["runs"][f"ppo_dream_s{s}"]["crafter_score"] for s in (0, 1)]
    assert dream["seeds"] == 2 and dream["crafter_score_mean"] == pytest.approx(np.mean(scores))
    assert dream["crafter_score_std"] == pytest.approx(np.std(scores))
    assert saved["summary"]["random"]["seeds"] == 1
    assert "ppo_dream_s1" in capsys.readouterr().out

    # A second call scores the finished runs again without building an env to train in.
    import agents.dream_ppo

    def no_env(cfg):
        raise AssertionError(f"{cfg.out} was trained again")

    monkeypatch.setattr(agents.dream_ppo, "make_vec_env", no_env)
    again = compare_agents.main(args)
    assert again["runs"]["ppo_real_s1"]["crafter_score"] == result["runs"]["ppo_real_s1"]["crafter_score"]
    # ...but a larger budget trains on (PPO fills whole rollouts: 32 steps ran 2 envs x 128).
    with pytest.raises(AssertionError, match="ppo_real_s0 was trained again"):
        compare_agents.main([*args[:3], "10000", *args[4:]])


def test_a_tile_aligned_worlds_policies_play_the_real_game_at_its_size(tmp_path):
    """A 72x72 world: PPO in its dream and PPO in the real game both see 72x72 frames, and the
    evaluation renders the real game at the size each policy was trained on."""
    from conftest import build_tiny_world

    from agents.policy_io import policy_frame_size
    from worldenv.worlds import world_frame_size

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True)
    assert world_frame_size(world) == (72, 72)
    small = dict(world=str(world), timesteps=16, num_envs=2, n_steps=8, batch_size=16, n_epochs=1)
    dream = train(AgentConfig(env="dream", out=str(tmp_path / "dream"), dream_horizon=8, real_eval_every=8,
                              real_eval_episodes=1, **small))
    assert "real/score" in (tmp_path / "dream" / "progress.csv").read_text()  # scored in a 72x72 real game
    real = train(AgentConfig(env="real", out=str(tmp_path / "real"), **small))
    for policy in (dream, real):
        assert policy_frame_size(policy) == (72, 72)
        r = evaluate_policy(str(policy), episodes=1, progress=False)
        assert r["frame_size"] == [72, 72] and r["episodes"] == 1
    assert evaluate_policy("random", episodes=1, world=str(world), progress=False)["frame_size"] == [72, 72]



def test_a_policy_is_not_scored_in_a_dream_of_another_frame_size(tiny_world, tmp_path):
    from conftest import build_tiny_world

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True)
    policy = train(AgentConfig(env="dream", world=str(world), out=str(tmp_path / "a"), timesteps=8, num_envs=2,
                               n_steps=4, batch_size=8, n_epochs=1))
    with pytest.raises(ValueError, match=r"frames \(64, 64, 3\) are not .* \(72, 72, 3\)"):
        evaluate_policy(str(policy), episodes=1, dream_horizon=4, world=str(tiny_world), progress=False)


def test_impala_network_trains_saves_and_loads_as_itself(tiny_world, tmp_path):
    """`--network impala` (IMPALA's residual CNN, as PPO-ResNet): the checkpoint names its network,
    resumes and plays with it; SB3's CNN checkpoints still load as before."""
    import torch

    from agents.networks import ImpalaCNN, policy_kwargs

    box = gym.spaces.Box(0, 255, (3, 72, 72), np.uint8)
    assert ImpalaCNN(box)(torch.zeros(2, 3, 72, 72)).shape == (2, 256)  # 72 -> 36 -> 18 -> 9, then linear
    with pytest.raises(ValueError, match="impala"):
        policy_kwargs("resnet50")
    cfg = AgentConfig(env="dream", world=str(tiny_world), out=str(tmp_path / "agent"), timesteps=32, num_envs=4,
                      dream_horizon=8, n_steps=8, batch_size=16, n_epochs=1, network="impala")
    policy = train(cfg)
    from model.checkpoint import load_checkpoint

    assert load_checkpoint(policy, "PPOPolicy")[1]["network"] == "impala"
    cfg.timesteps, cfg.resume, cfg.network = 64, True, "cnn"  # a resume keeps the checkpoint's network
    train(cfg)
    actor = Actor(str(policy), gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), gym.spaces.Discrete(17))
    assert isinstance(actor.model.policy.features_extractor, ImpalaCNN)
    assert actor.act(np.zeros((3, 64, 64, 3), np.uint8)).shape == (3,)
