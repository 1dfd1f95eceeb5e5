"""The learning loop (agents/loop) on a tiny world: every phase runs with the shipped recipes'
trainers, the real data is written as recordings, and a loop killed in a phase resumes there."""

import json

import numpy as np
import pytest

from agents.loop.collect import collect_real
from agents.loop.world import bucket_weights
from model.recordings import load_episode, read_index

RECIPES = "configs/crafter72"


def test_collect_writes_every_real_step_as_recordings(tmp_path):
    rng = np.random.default_rng(0)
    infos = collect_real(lambda obs: rng.integers(0, 17, len(obs)), tmp_path / "real", steps=150, num_envs=3,
                         seed=7, epsilon=0.5, size=(72, 72), progress=False)
    listed = read_index(tmp_path / "real")
    assert [e.name for e in listed] == sorted(e.name for e in infos)
    # every step is a frame with its action; each episode adds its last frame, which has none
    assert sum(e.frames - 1 for e in listed) == 150
    ep = load_episode(tmp_path / "real", listed[0].name)
    assert ep.frames.shape[1:] == (72, 72, 3) and ep.records[-1]["action"] is None
    assert all(isinstance(r["action"], int) for r in ep.records[:-1]) and "inventory" in ep.records[0]
    assert all(e.extra.get("cut") for e in listed if not e.extra["died"])  # the budget cut them short


def test_a_failing_policy_leaves_no_partial_episode(tmp_path):
    calls = []

    def act(obs):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("policy crashed")
        return np.zeros(len(obs), int)

    with pytest.raises(RuntimeError, match="policy crashed"):
        collect_real(act, tmp_path / "real", steps=100, num_envs=2, progress=False)
    assert not list((tmp_path / "real").glob("*.mp4")) and not list((tmp_path / "real").glob("*.jsonl"))


def test_recent_data_is_weighted_up():
    w = [float(x) for x in bucket_weights([300, 100, 100], 3.0).split(",")]
    assert w == pytest.approx([300 / 700, 100 / 700, 300 / 700])


@pytest.fixture(scope="module")
def start_world(tmp_path_factory):
    """A 72x72 world trained two steps with the shipped DiT recipe, and tiny recipes for the loop."""
    from conftest import tiny_world72_with_latents

    from model import heads_training, world_training
    from worldenv.games import get_game

    root = tmp_path_factory.mktemp("loop")
    world, (train_lat, _) = tiny_world72_with_latents(root, max_steps=30)
    tiny = root / "dit.toml"
    recipe = open(f"{RECIPES}/dit_4_attempts.toml").read()
    tiny.write_text("start_bank = 1\n" + recipe.replace("window = 8", "window = 3").replace("batch_size = 32",
                                                                                           "batch_size = 2"))
    world_training.main(["--config", str(tiny), "--latents", train_lat, "--recordings", str(root / "rec_train"),
                         "--vae", str(world / "vae.safetensors"), "--init", "", "--out", str(root / "w0"),
                         "--steps", "2", "--warmup", "1", "--no-progress", "--threads", "1"], games=get_game)
    heads_training.fit(heads_training.parse_args(
        ["--config", f"{RECIPES}/heads_4.toml", "--world", str(root / "w0" / "world"), "--latents", train_lat,
         "--heldout", "", "--out", str(root / "start" / "world"), "--windows", "16", "--epochs", "1", "--threads", "1"]))
    return {"world": root / "start" / "world", "dit_recipe": tiny, "latents": train_lat}


def loop_args(start_world, out):
    return ["--out", str(out), "--world", str(start_world["world"]), "--base-latents", start_world["latents"],
            "--base-real-steps", "58", "--dit-recipe", str(start_world["dit_recipe"]),
            "--heads-recipe", f"{RECIPES}/heads_4.toml", "--real-steps", "80", "--steps-per-iteration", "40",
            "--collect-envs", "2", "--world-steps", "2", "--heads-windows", "16", "--heads-epochs", "1",
            "--dream-steps", "16", "--dream-envs", "2", "--dream-horizon", "8", "--ppo-n-steps", "4",
            "--ppo-batch-size", "4", "--score-episodes", "2",
            "--threads", "1"]


def test_the_loop_runs_every_phase_and_resumes_where_it_stopped(start_world, tmp_path, monkeypatch):
    from agents.loop import run

    out = tmp_path / "loop"
    calls = []
    real_dream = run.Loop.dream

    def dream_that_dies_once(self, i):
        calls.append(("dream", i))
        if i == 1 and calls.count(("dream", 1)) == 1:
            raise KeyboardInterrupt  # killed in iteration 1's dream phase
        real_dream(self, i)

    monkeypatch.setattr(run.Loop, "dream", dream_that_dies_once)
    with pytest.raises(KeyboardInterrupt):
        run.main(loop_args(start_world, out))
    state = json.loads((out / "loop_state.json").read_text())
    assert state["done"] == {"0": ["collect", "world", "dream", "score"], "1": ["collect", "world"]}
    with pytest.raises(SystemExit, match="--resume"):
        run.main(loop_args(start_world, out))  # a folder holding a loop is not started over
    with pytest.raises(SystemExit, match="epsilon"):
        run.main(loop_args(start_world, out) + ["--resume", "--epsilon", "0.2"])
    saved = json.loads((out / "config.json").read_text())
    del saved["dream_rules"]  # a loop saved before a setting existed ran with its default
    (out / "config.json").write_text(json.dumps(saved))
    with pytest.raises(SystemExit, match="dream_rules"):
        run.main(loop_args(start_world, out) + ["--resume", "--dream-rules", "none"])

    collected = sorted(p.name for p in (out / "real").iterdir())
    state = run.main(loop_args(start_world, out) + ["--resume"])
    assert sorted(p.name for p in (out / "real").iterdir()) == collected  # iteration 1's data was kept
    assert calls == [("dream", 0), ("dream", 1), ("dream", 1)]
    assert state.real_steps == 80 and [c["real_steps"] for c in state.curve] == [58 + 40, 58 + 80]
    assert all(0 <= c["crafter_score"] <= 100 and c["episodes"] == 2 for c in state.curve)
    assert json.loads((out / "curve.json").read_text()) == state.curve
    for i in (0, 1):
        assert (out / "world" / f"iter_{i:03d}" / "world" / "dit.safetensors").exists()
        assert (out / "policy" / f"iter_{i:03d}.safetensors").exists()
        assert sum(e.frames - 1 for e in read_index(out / "real" / f"iter_{i:03d}")) == 40
    from model.checkpoint import load_checkpoint

    meta = load_checkpoint(out / "policy" / "iter_001.safetensors", "PPOPolicy")[1]
    assert meta["network"] == "impala" and meta["num_timesteps"] == 32  # 16 dream steps per iteration

    # a resume may add whole iterations to the budget, nothing else
    from agents.loop.config import LoopConfig
    from model.cli import parse_config

    def resume_with(steps):
        run.check_start(parse_config(run.__doc__, LoopConfig, loop_args(start_world, out) + ["--resume", "--real-steps", steps]))

    resume_with("120")
    with pytest.raises(SystemExit, match="real_steps"):
        resume_with("40")  # a smaller budget than the loop's
    saved = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**saved, "real_steps": 70}))  # its last iteration collected 30 of 40
    with pytest.raises(SystemExit, match="real_steps"):
        resume_with("120")
    (out / "config.json").write_text(json.dumps(saved))

    # every phase's time is kept, and the cost report reads them
    from agents.loop import costs

    assert set(state.seconds) == {"0", "1"} and all(set(s) == set(run.PHASES) for s in state.seconds.values())
    report = costs.main(["--loop", str(out), "--to", "218", "--json", str(tmp_path / "costs.json")])
    assert report["projection"]["iterations"] == 4  # (218 - 58 base) / 40 per iteration
    assert report["rates"]["collect"]["rate"] == pytest.approx(40 / report["mean_seconds"]["collect"])
    assert json.loads((tmp_path / "costs.json").read_text())["projection"] == report["projection"]


def saved_policy(path, network, steps, n_steps=4, size=72):
    """A new PPO policy for Crafter frames, saved as if trained `steps` steps in the dream."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import DummyVecEnv

    from agents.networks import policy_kwargs
    from agents.policy_io import _SpaceOnlyEnv, save_policy

    spaces = gym.spaces.Box(0, 255, (size, size, 3), np.uint8), gym.spaces.Discrete(17)
    model = PPO("CnnPolicy", DummyVecEnv([lambda: _SpaceOnlyEnv(*spaces)]), policy_kwargs=policy_kwargs(network),
                n_steps=n_steps, batch_size=4, device="cpu")
    model.num_timesteps = steps
    save_policy(model, path, *spaces, env="dream")
    return path


def test_the_loop_goes_on_from_an_init_policy(start_world, tmp_path, monkeypatch):
    from agents.loop import run
    from agents.policy_io import Actor
    from model.checkpoint import load_checkpoint

    init = saved_policy(tmp_path / "init.safetensors", "cnn", 1000)
    actors = []
    monkeypatch.setattr(Actor, "__init__", lambda self, path, *a, _init=Actor.__init__, **k: (
        actors.append(path), _init(self, path, *a, **k))[1])
    args = loop_args(start_world, tmp_path / "loop") + ["--real-steps", "40", "--network", "cnn",
                                                        "--init-policy", str(init)]
    init.with_name("moved.safetensors").write_bytes(init.read_bytes())
    real_dream = run.Loop.dream

    def dream_then_die(self, i):
        real_dream(self, i)
        saved_policy(init, "cnn", 5000)  # the file at init_policy changes under a running loop
        raise KeyboardInterrupt

    monkeypatch.setattr(run.Loop, "dream", dream_then_die)
    with pytest.raises(KeyboardInterrupt):  # killed after the dream trained, before it was marked done
        run.main(args)
    monkeypatch.setattr(run.Loop, "dream", real_dream)
    run.main(args + ["--resume"])
    assert json.loads((tmp_path / "loop" / "loop_state.json").read_text())["init_steps"] == 1000
    init.write_bytes(init.with_name("moved.safetensors").read_bytes())
    assert actors[0] == str(init)  # the init policy collects iteration 0
    tensors, meta = load_checkpoint(tmp_path / "loop" / "policy" / "iter_000.safetensors", "PPOPolicy")
    assert meta["network"] == "cnn" and meta["num_timesteps"] == 1000 + 16  # PPO went on from its steps
    before = load_checkpoint(init, "PPOPolicy")[0]
    assert any(not np.array_equal(before[k].numpy(), tensors[k].numpy()) for k in before if k.startswith("policy."))

    for bad, message in ((saved_policy(tmp_path / "impala.safetensors", "impala", 0), "'impala' network"),
                         (saved_policy(tmp_path / "n8.safetensors", "cnn", 0, n_steps=8), "n_steps"),
                         (saved_policy(tmp_path / "s64.safetensors", "cnn", 0, size=64), "frames"),
                         (tmp_path / "missing.safetensors", "not found")):
        with pytest.raises(SystemExit, match=message):
            run.main(loop_args(start_world, tmp_path / "other") + ["--network", "cnn", "--init-policy", str(bad)])


@pytest.mark.slow
def test_real_ppo_baseline_scores_at_the_loops_budgets(start_world, tmp_path):
    from agents.loop import baseline

    args = ["--out", str(tmp_path / "real"), "--world", str(start_world["world"]), "--base-real-steps", "16",
            "--real-steps", "32", "--steps-per-iteration", "16", "--collect-envs", "2", "--ppo-n-steps", "8",
            "--ppo-batch-size", "16", "--score-episodes", "1"]
    curve = baseline.main(args)
    assert [c["real_steps"] for c in curve] == [32, 48]  # 16 base + 16, + 32
    assert [c["ppo_steps"] for c in curve] == [32, 48]
    assert baseline.main(args) == curve  # finished budgets are not trained again


def test_the_curve_plots_the_mean_and_spread_over_seeds(tmp_path):
    from agents.loop import plot

    for name, scores in (("loop_s0", [2.0, 3.0]), ("loop_s1", [4.0, 5.0]), ("real_s0", [1.0, 1.5])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "curve.json").write_text(json.dumps(
            [{"real_steps": s, "crafter_score": v} for s, v in zip((32, 48), scores, strict=True)]))
    table = plot.main(["--loop", str(tmp_path / "loop_s0"), str(tmp_path / "loop_s1"), "--real",
                       str(tmp_path / "real_s0"), "--flat", "shipped=5.06", "--out", str(tmp_path / "curve.png")])
    loop = table["series"]["loop"]
    assert [r["mean"] for r in loop] == [3.0, 4.0] and [(r["min"], r["max"]) for r in loop] == [(2.0, 4.0), (3.0, 5.0)]
    assert table["flat"] == {"shipped": 5.06} and (tmp_path / "curve.png").stat().st_size > 0
    # a curve.json given as a file, in a series of its own name
    table = plot.main(["--loop", str(tmp_path / "loop_s0"), "--loop-name", "cnn loop",
                       "--series", "other=" + str(tmp_path / "real_s0" / "curve.json"), "--out", str(tmp_path / "curve2.png")])
    assert [r["mean"] for r in table["series"]["other"]] == [1.0, 1.5] and "cnn loop" in table["series"]
    with pytest.raises(SystemExit):
        plot.main(["--loop", str(tmp_path / "loop_s0"), "--series", "nameless", "--out", str(tmp_path / "z.png")])
    with pytest.raises(FileNotFoundError, match="curve"):
        plot.main(["--loop", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit):
        plot.main(["--loop", str(tmp_path / "loop_s0"), "--flat", "no-score", "--out", str(tmp_path / "y.png")])


def test_bad_loop_settings_are_refused_before_any_work(tmp_path):
    from agents.loop import run

    base = ["--out", str(tmp_path / "loop"), "--dream-steps", "4096"]
    for extra, message in ((["--network", "resnet50"], "network"), (["--base-latents", str(tmp_path)], "latent cache"),
                           (["--dream-steps", "100"], "PPO update"), (["--dit-recipe", "nope.toml"], "recipe"),
                           (["--world", str(tmp_path / "no_world")], "neither a folder")):
        with pytest.raises(SystemExit, match=message):
            run.main(base + extra)
    assert not (tmp_path / "loop").exists()
