"""agents.ship (scripts/ship_policy.py): a policy without its optimizer state acts as the training checkpoint did."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import ship as ship_policy
from agents.dream_ppo import AgentConfig, train
from agents.policy_io import KIND, Actor
from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_a_shipped_policy_acts_as_trained_and_says_its_score(tiny_world, tmp_path):
    cfg = AgentConfig(env="dream", world=str(tiny_world), out=str(tmp_path / "agent"), timesteps=32, num_envs=4,
                      dream_horizon=8, n_steps=8, batch_size=16, n_epochs=1)
    policy = train(cfg)
    scored = tmp_path / "eval.json"
    scored.write_text(json.dumps({"crafter_score": 1.25, "mean_reward": 0.5, "episodes": 3, "policy": str(policy)}))
    to = tmp_path / "shipped" / "policy.safetensors"
    meta = ship_policy.main(["--policy", str(policy), "--to", str(to), "--scored", str(scored)])
    tensors, saved = load_checkpoint(to, KIND)
    assert tensors and all(k.startswith("policy.") for k in tensors)  # no optimizer moments
    assert any(k.startswith("optim.") for k in load_checkpoint(policy, KIND)[0])
    assert to.stat().st_size < policy.stat().st_size / 2
    assert saved["real_eval"] == {"crafter_score": 1.25, "mean_reward": 0.5, "episodes": 3} == meta["real_eval"]
    assert saved["observation_space"] == meta["observation_space"] and saved["num_timesteps"] == 32
    trained, shipped = (Actor(str(p), *_spaces(saved)) for p in (policy, to))
    obs = np.random.default_rng(0).integers(0, 256, (6, *saved["observation_space"]["shape"]), dtype=np.uint8)
    assert np.array_equal(trained.act(obs, deterministic=True), shipped.act(obs, deterministic=True))


def test_shipping_refuses_what_is_not_a_scored_policy(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ship_policy.ship_policy(str(tmp_path / "missing.safetensors"), str(tmp_path / "out.safetensors"))
    bad = tmp_path / "eval.json"
    bad.write_text("{}")
    save_checkpoint(tmp_path / "p.safetensors", {"policy.w": torch.zeros(2)}, KIND, None)
    with pytest.raises(SystemExit, match="crafter_score"):
        ship_policy.ship_policy(str(tmp_path / "p.safetensors"), str(tmp_path / "out.safetensors"), str(bad))
    bad.write_text(json.dumps({"crafter_score": 3.0, "episodes": 50, "policy": "runs/other/policy.safetensors"}))
    with pytest.raises(SystemExit, match="score the policy you ship"):
        ship_policy.ship_policy(str(tmp_path / "p.safetensors"), str(tmp_path / "out.safetensors"), str(bad))
    save_checkpoint(tmp_path / "o.safetensors", {"optim.w": torch.zeros(2)}, KIND, None)
    with pytest.raises(CheckpointError, match="no policy weights"):
        ship_policy.ship_policy(str(tmp_path / "o.safetensors"), str(tmp_path / "out.safetensors"))
    assert not (tmp_path / "out.safetensors").exists()


def _spaces(meta):
    shape = tuple(meta["observation_space"]["shape"])
    return gym.spaces.Box(0, 255, shape, np.uint8), gym.spaces.Discrete(meta["action_space"]["n"])


@pytest.mark.parametrize("name", ["crafter72_dream_ppo", "crafter72_loop_ppo"])
def test_the_shipped_policies_play_the_real_game_at_the_shipped_size(name):
    """Each shipped policy loads for the real game at the shipped world's size (as
    `play.py --agent` and `agents.evaluate` load it) and says what it scored."""
    import worldenv  # noqa: F401 - registers the ids

    path = f"agents/policies/{name}.safetensors"
    _, meta = load_checkpoint(path, KIND)
    assert meta["env"] == "dream" and meta["real_eval"]["episodes"] >= 50 and "crafter_score" in meta["real_eval"]
    env = gym.make("SoraWorld/Crafter-v1", size=(72, 72))
    obs, _ = env.reset(seed=0)
    actions = Actor(path, env.observation_space, env.action_space).act(obs[None], deterministic=True)
    assert actions.shape == (1,) and env.action_space.contains(int(actions[0]))
