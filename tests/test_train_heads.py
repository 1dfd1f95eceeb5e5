"""Heads that name achievements: labels from recordings, re-fitting on a frozen DiT, and the
game's first-unlock reward rule in the dream envs."""

import json

import numpy as np
import pytest
import torch

from model import heads_training
from model.checkpoint import CheckpointError
from model.latent_cache import LatentCache, item_gain_frames, unlock_labels
from model.latent_encoding import encode_folder
from model.rollout import StepResult, WorldModel
from worldenv.achievements import FirstUnlockRewards
from worldenv.collect import CollectConfig, collect
from worldenv.dream_env import DreamEnv
from worldenv.dream_vector_env import DreamVectorEnv


def train_heads(argv):
    return heads_training.fit(heads_training.parse_args(argv))


@pytest.fixture(scope="module")
def explored(tmp_path_factory, tiny_world):
    """Explore-policy recordings (they unlock achievements early) and their latent cache."""
    root = tmp_path_factory.mktemp("heads")
    rec = root / "rec"
    collect(CollectConfig(episodes=2, policy="explore", out=str(rec), seed=1, workers=1, max_steps=80,
                          area=(32, 32), size=(64, 64)), progress=False)
    encode_folder(str(tiny_world / "vae.safetensors"), str(rec), str(root / "lat"), progress=False, nvec=(17,))
    return root, rec, root / "lat"


def test_unlock_labels_follow_the_jsonl(explored):
    _, rec, lat = explored
    cache = LatentCache.load(lat)
    labels, names = unlock_labels(cache)
    assert labels.shape == (len(cache),) and names == sorted(names) and len(names) > 0
    # Every labelled frame is a frame whose recorded reward holds an unlock, and vice versa.
    assert np.array_equal(labels >= 0, cache.rewards.numpy() >= 0.5)
    from model.recordings import list_episodes

    first = [json.loads(line) for line in open(rec / f"{list_episodes(rec)[0].name}.jsonl")]
    for t, r in enumerate(first):
        assert (names[labels[t]] if labels[t] >= 0 else None) == (r.get("unlocked") or [None])[0]
    from model.data import episode_arrays

    assert episode_arrays(rec, list_episodes(rec)[0]).unlocked == [(r.get("unlocked") or [None])[0] for r in first]
    other = explored[0] / "other"
    collect(CollectConfig(episodes=1, policy="random", out=str(other), seed=5, workers=1, max_steps=10,
                          area=(32, 32), size=(64, 64)), progress=False)
    with pytest.raises(ValueError, match="does not hold the episodes of this cache"):
        unlock_labels(cache, other)


def test_item_gain_frames_follow_the_inventory(explored):
    _, rec, lat = explored
    cache = LatentCache.load(lat)
    gains = item_gain_frames(cache)
    assert gains.shape == (len(cache),) and gains.any()
    from model.recordings import list_episodes

    t0 = 0
    for info in list_episodes(rec):
        records = [json.loads(line) for line in open(rec / f"{info.name}.jsonl")]
        for t, r in enumerate(records):
            before = records[t - 1]["inventory"] if t else r["inventory"]
            rose = {k for k, v in r["inventory"].items() if v > before[k]}
            assert gains[t0 + t] == bool(rose - {"health"}), (info.name, t, rose)
        t0 += len(records)
    # unlocking collect_wood/stone/... is a gain (not collect_drink: drink may already be full)
    labels, names = unlock_labels(cache)
    collected = np.isin(labels, [i for i, n in enumerate(names) if n.startswith("collect_") and n != "collect_drink"])
    assert collected.any()
    assert gains[collected].all()


def test_refit_heads_name_achievements_and_the_world_still_plays(explored, tiny_world, tmp_path):
    _, _, lat = explored
    out = tmp_path / "world"
    report = train_heads(["--world", str(tiny_world), "--latents", str(lat), "--heldout", str(lat),
                          "--windows", "64", "--epochs", "40", "--out", str(out), "--threads", "1"])
    assert report["loss"][-1] < report["loss"][0]
    world = WorldModel.load(out)
    assert world.achievements == report["achievements"] and world.dit.cfg.achievements == len(world.achievements)
    # Only the heads changed: the rest of the DiT is the frozen original.
    old = WorldModel.load(tiny_world).dit.state_dict()
    for k, v in world.dit.state_dict().items():
        if not k.startswith("heads_mlp"):
            assert torch.equal(v, old[k].to(v.dtype)), k
    assert "which_acc" in report["heldout_new"] and (out.parent / "heads_eval.json").exists()
    env = DreamEnv(world=out)
    env.reset(seed=0)
    _, reward, *_, info = env.step(0)
    assert np.isfinite(reward) and "achievements" in info
    # A world whose heads already name achievements can be re-fitted again.
    # The feature cache may go in a folder that does not exist yet; a rerun reads it back.
    feats = tmp_path / "new" / "features.safetensors"
    for _ in range(2):
        again = train_heads(["--world", str(out), "--latents", str(lat), "--windows", "16", "--epochs", "2",
                             "--out", str(tmp_path / "again"), "--threads", "1", "--features", str(feats),
                             "--overwrite"])
    assert feats.exists()
    assert WorldModel.load(tmp_path / "again").achievements == again["achievements"]


def test_only_deaths_count_as_terminations(explored):
    from model.latent_cache import death_frames
    from model.recordings import list_episodes

    _, rec, lat = explored
    cache = LatentCache.load(lat)
    died = [e.extra["died"] for e in list_episodes(rec)]
    deaths = death_frames(cache)
    ends = cache.episode_starts.numpy() + cache.episode_lengths.numpy() - 1
    assert deaths.sum() == sum(died) and all(deaths[end] == d for end, d in zip(ends, died, strict=True))
    assert not any(died)  # these 80-step episodes hit the time limit: no frame may teach "terminate"


def always_unlocking_world(tiny_world, folder):
    """The tiny world with heads that always report achievement 0 unlocking and no health change."""
    world = WorldModel.load(tiny_world)
    from dataclasses import replace

    dit = type(world.dit)(replace(world.dit.cfg, achievements=2))
    dit.load_state_dict({k: v for k, v in world.dit.state_dict().items() if not k.startswith("heads_mlp.3.")},
                        strict=False)
    with torch.no_grad():
        last = dit.heads_mlp[3]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([20.0, 0.0, -20.0, 5.0, 0.0]))
    world.dit = dit
    world.save(folder, achievements=["collect_wood", "place_table"])
    return folder


def test_an_achievement_pays_once_per_episode(tiny_world, tmp_path):
    folder = always_unlocking_world(tiny_world, tmp_path / "w")
    env = DreamEnv(world=folder, rules="none")  # the heads' achievements, not the game's rules
    env.reset(seed=0)
    rewards = []
    for _ in range(3):
        _, r, _, _, info = env.step(1)
        rewards.append(r)
    assert rewards == [1.0, 0.0, 0.0] and info["achievements"] == {"collect_wood": 1, "place_table": 0}
    env.reset(seed=1)
    assert env.step(1)[1] == 1.0  # a new episode pays again
    venv = DreamVectorEnv(num_envs=2, world=folder, max_episode_steps=2, rules="none")
    venv.reset(seed=0)
    got = [venv.step(np.array([1, 2]))[1].tolist() for _ in range(3)]
    assert got == [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]  # step 2 truncates, step 3 is a new episode


def test_first_unlock_rule_and_worlds_without_names():
    def result(ach, unlock=(0.9, 0.9), rewards=(1.1, 0.9)):
        return StepResult(np.zeros((2, 4, 4, 3), np.uint8), np.array(rewards, np.float32), np.zeros(2, bool),
                          np.array(unlock, np.float32), np.array(ach))

    rule = FirstUnlockRewards(2, ["a", "b"])
    r, new = rule.rewards(result([0, 1]))
    assert np.allclose(r, [1.1, 0.9]) and new == ["a", "b"]
    r, new = rule.rewards(result([0, 0]))
    assert np.allclose(r, [0.1, 0.9]) and new == [None, "a"]  # the health change is kept
    rule.reset([0])
    assert rule.rewards(result([0, 0]))[1] == ["a", None]
    # A world whose heads do not name achievements keeps the model's per-step reward.
    assert np.allclose(FirstUnlockRewards(2, []).rewards(result([-1, -1]))[0], [1.1, 0.9])
    # Achievements from the game's rules: the heads' unlock is dropped, their health change kept.
    rule = FirstUnlockRewards(2, ["a", "b"])
    r, new = rule.rewards(result([0, 1], unlock=(0.9, 0.2), rewards=(1.1, -0.2)), [["a", "b"], []])
    assert np.allclose(r, [2.1, -0.2]) and new == ["a", None]
    r, new = rule.rewards(result([0, 1], unlock=(0.9, 0.2), rewards=(1.1, -0.2)), [["a"], ["a"]])
    assert np.allclose(r, [0.1, 0.8]) and new == [None, "a"]


def test_world_with_mismatched_achievement_names_is_refused(tiny_world, tmp_path):
    folder = always_unlocking_world(tiny_world, tmp_path / "w")
    world = WorldModel.load(folder)
    world.meta["achievements"] = ["only_one"]
    with pytest.raises(CheckpointError, match="names 1 achievements but its DiT predicts 2"):
        world.achievements  # noqa: B018


def test_mid_episode_start_clips(explored, tiny_world):
    from model.data import episode_arrays, start_clips
    from model.recordings import list_episodes

    _, rec, _ = explored
    frames, actions = start_clips(rec, 6, 5, seed=0, anywhere=True)
    assert frames.shape == (6, 5, 64, 64, 3) and actions.shape == (6, 5, 1)
    eps = [episode_arrays(rec, e) for e in list_episodes(rec)]

    def where(clip):
        for ep in eps:
            for s in range(len(ep.frames) - 4):
                if np.array_equal(ep.frames[s : s + 5], clip):
                    return s
        return None

    offsets = [where(c) for c in frames]
    assert None not in offsets and max(offsets) > 0  # real clips, not only episode beginnings
    assert where(start_clips(rec, 1, 5, seed=0)[0][0]) == 0  # as the recording played it
    held, held_actions = start_clips(rec, 3, 5, seed=0, hold_openings=True)  # the first frame, as a game starts
    firsts = [ep.frames[0] for ep in eps]
    assert all((c == c[0]).all() and any(np.array_equal(c[0], f) for f in firsts) for c in held)
    assert (held_actions == -1).all()
    venv = DreamVectorEnv(num_envs=2, world=tiny_world, starts=str(rec), num_starts=4)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (2, 64, 64, 3) and len(venv.start_frames) == 4
    openings = DreamVectorEnv(num_envs=2, world=tiny_world, starts=str(rec), num_starts=4, start_anywhere=False)
    assert all(where(c) == 0 for c in openings.start_frames[:, :5])  # as the recordings open
    held = DreamVectorEnv(num_envs=2, world=tiny_world, starts=str(rec), num_starts=4, start_anywhere=False,
                          hold_openings=True)
    assert all(any(np.array_equal(c[-1], f) for f in firsts) for c in held.start_frames)  # as a game starts
    assert (held.start_actions == -1).all()
    from agents.dream_ppo import make_vec_env, parse_args

    cfg = parse_args(["--world", str(tiny_world), "--num-envs", "2", "--starts", str(rec), "--num-starts", "2",
                      "--no-start-anywhere", "--hold-openings"])
    venv = make_vec_env(cfg)
    try:
        assert (venv.venv.venv.start_actions == -1).all()  # the flag reaches the dreams' start clips
    finally:
        venv.close()
    assert not parse_args([]).hold_openings
    with pytest.raises(ValueError, match="need n >= 1"):
        start_clips(rec, 2, 10_000)


def test_policies_are_scored_in_the_dream_like_in_the_game(tiny_world, tmp_path):
    from agents.evaluate import evaluate_policy

    with pytest.raises(ValueError, match="do not name achievements"):
        evaluate_policy("random", episodes=1, dream_horizon=2, world=str(tiny_world), progress=False,
                        dream_rules="none")
    # with the game's rules keeping the items (the default on Crafter worlds) the names are crafter's
    r = evaluate_policy("random", episodes=1, dream_horizon=2, world=str(tiny_world), progress=False)
    assert len(r["success_rates"]) == 22 and r["dream"]["rules"] == "game"

    folder = always_unlocking_world(tiny_world, tmp_path / "w")
    r = evaluate_policy("random", episodes=3, dream_horizon=4, world=str(folder), progress=False,
                        dream_rules="none")
    # Every dream episode unlocks collect_wood once (paid once) and nothing else.
    assert r["game"] == "dream (4 steps)" and r["episodes"] == 3 and r["mean_length"] == 4
    assert r["mean_reward"] == 1.0 and r["success_rates"]["collect_wood"] == 100.0
    assert sum(r["success_rates"].values()) == 100.0
