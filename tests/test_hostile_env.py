"""Hostile tests (issue 39) of the dream env's settings and inputs, `play.py` without a display and
CI's handling of a suite that runs nothing: the cases the lead fixed, kept here with the others."""

import math
import os
import shutil
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldenv  # noqa: F401 -- registers SoraWorld-v0
from model.rollout import DreamRollout, WorldModel
from worldenv.dream_env import DEFAULT_THREADS, DreamEnv
from worldenv.dream_vector_env import DreamVectorEnv

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")


@pytest.fixture(scope="module")
def env(tiny_world):
    return DreamEnv(world=tiny_world)


@pytest.mark.parametrize("setting", ["guidance", "context_sigma", "start_sigma"])
def test_nan_settings_are_refused(tiny_world, setting):
    with pytest.raises(ValueError, match=setting):
        gym.make("SoraWorld-v0", world=str(tiny_world), **{setting: NAN})
    with pytest.raises(ValueError, match=setting):
        DreamVectorEnv(num_envs=2, world=tiny_world, **{setting: NAN})
    with pytest.raises(ValueError, match=setting):
        DreamRollout(WorldModel.load(tiny_world), **{setting: NAN})


def test_bad_counts_are_refused_with_what_was_expected(tiny_world):
    with pytest.raises(ValueError, match=r"context must be in \[1, "):
        DreamEnv(world=tiny_world, context=0)
    with pytest.raises(TypeError, match="steps must be an integer, got '2'"):
        DreamEnv(world=tiny_world, steps="2")


def test_bad_reset_options_and_actions_are_refused(env, tmp_path):
    with pytest.raises(ValueError, match="'start' must be an integer"):
        env.reset(options={"start": 1.5})
    with pytest.raises(ValueError, match="start image is None") as e:
        env.reset(options={"image": None})
    assert "NaN" not in str(e.value)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    with pytest.raises(ValueError, match="not an image PIL can read"):
        env.reset(options={"image": str(not_an_image)})
    env.reset(seed=0)
    for action in (True, np.bool_(False), np.array([1], dtype=bool)):
        with pytest.raises(ValueError, match="boolean"):
            env.step(action)
    obs, reward, *_ = env.step(1)
    assert obs.shape == (64, 64, 3) and math.isfinite(reward)


def test_the_env_runs_on_one_torch_thread_by_default(tiny_world):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        DreamEnv(world=tiny_world)
        assert DEFAULT_THREADS == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        DreamEnv(world=tiny_world, threads=0)  # 0: torch's own setting is left alone
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_play_without_a_display_says_so_and_sets_the_audio_driver(monkeypatch):
    from worldenv.play import cli

    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY", "SDL_AUDIODRIVER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="no display"):
        cli.main(["--max-steps", "1"])

    class Stop(Exception):
        pass

    def stop(cfg):
        raise Stop

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # headless on purpose
    monkeypatch.setattr(cli, "make_env", stop)
    with pytest.raises(Stop):
        cli.main(["--max-steps", "1"])
    assert os.environ["SDL_AUDIODRIVER"] == "dummy"


def test_ci_fails_when_pytest_collects_no_test(tmp_path):
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "Makefile").write_text("minetest-deps:\n\t@true\ntest:\n\t@exit 5\n")
    r = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60)
    # (make reports a recipe's exit 5 as its own exit 2: either way the run fails)
    assert r.returncode != 0, r.stderr


def test_bench_reports_both_thread_counts_quiet_and_beside_a_busy_process(tiny_world, tmp_path, capsys):
    from worldenv import bench

    result = bench.main(["--world", str(tiny_world), "--batches", "2", "--single-steps", "3", "--steps-per-env", "2",
                         "--real-seconds", "0.2", "--threads", "1", "2", "--busy", "--json", str(tmp_path / "b.json")])
    assert [(r["threads"], r["load"]) for r in result["runs"]] == [(1, "quiet"), (2, "quiet"), (1, "busy"), (2, "busy")]
    assert all(r["dream_batch1"]["p50_ms"] > 0 and r["dream_batched"]["2"]["env_steps_per_s"] > 0
               for r in result["runs"])
    table = capsys.readouterr().out
    assert "       2    busy" in table and "       1   quiet" in table
    assert bench.default_thread_counts()[0] == 1
