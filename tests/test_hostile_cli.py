"""Hostile tests (issue 39) of the command lines: bad data gives a one-line error (the traceback only
under --debug) from every script, an evaluation that fails part-way writes nothing and says so,
and what a new user installs (rich for SB3's progress bar, the SPDX license)."""

import ast
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from model.recordings import RecordingError
from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.evaluation import run as evaluation
from worldenv.media import write_outputs

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def script_entry(path: Path):
    """The function a script's `if __name__ == "__main__":` block calls, and its module."""
    tree = ast.parse(path.read_text())
    imports = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imports[alias.asname or alias.name] = (node.module, alias.name)
    main_block = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    call = next(n for n in ast.walk(main_block) if isinstance(n, ast.Call))
    module, name = imports[call.func.id]
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_script_prints_bad_input_as_one_line(path):
    entry = script_entry(path)
    if entry.__module__ == "worldenv.training_cli":  # passes the game plugins to a trainer's main
        source = importlib.import_module(entry.__module__).__loader__.get_source(entry.__module__)
        module = {"encode_latents": "model.latent_encoding", "train_world": "model.world_training"}[entry.__name__]
        assert f"from {module} import main" in source
        entry = importlib.import_module(module).main
    assert getattr(entry, "command_line", False), f"{path.name}: its main is not wrapped by model.cli.command_line"


def test_bad_data_is_one_line_and_the_traceback_comes_with_debug(tmp_path):
    cmd = [sys.executable, "scripts/train_vae.py", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {tmp_path / 'nothing'}: not a folder of recordings (--debug shows the traceback)"]
    r = subprocess.run(cmd + ["--debug"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" in r.stderr and "RecordingError" in r.stderr


def test_a_main_called_from_python_keeps_its_errors_and_result(tiny_world, tmp_path, monkeypatch, capsys):
    from model import vae_training

    with pytest.raises(RecordingError):  # called with argv: the error as it is, for callers and tests
        vae_training.main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    monkeypatch.setattr(sys, "argv", ["train_vae.py", "--data", str(tmp_path / "nothing"), "--out",
                                      str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:  # as a command (argv from sys.argv): one line
        vae_training.main()
    assert e.value.code == 1 and capsys.readouterr().err.startswith("error: ")
    world = tmp_path / "world"
    shutil.copytree(tiny_world, world)
    (world / "dit.safetensors").write_bytes(b"\x00" * 64)  # a corrupt checkpoint
    monkeypatch.setattr(sys, "argv", ["generate.py", "--world", str(world), "sample-image", "--out",
                                      str(tmp_path / "x.png")])
    from worldenv import generate

    with pytest.raises(SystemExit):
        generate.main()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt or truncated checkpoint" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile_eval") / "heldout"
    collect(CollectConfig(episodes=2, policy="random", out=str(data), seed=3, workers=1, max_steps=24,
                          area=(32, 32), size=(64, 64)), progress=False)
    return data


def test_an_evaluation_failing_part_way_writes_nothing_and_says_so(tiny_world, heldout, tmp_path, monkeypatch,
                                                                    capsys):
    args = dict(starts=2, horizons=(1, 2), stability_steps=0, reward_frames=0, fresh_windows=0, context_windows=8)

    def broken(*a, **kw):
        raise RuntimeError("the controllability measure broke")

    out = tmp_path / "eval"
    with monkeypatch.context() as m:
        m.setattr(evaluation, "controllability", broken)
        with pytest.raises(RuntimeError, match="broke"):
            evaluation.evaluate(str(tiny_world), str(heldout), str(out), **args)
    assert list(out.iterdir()) == []  # not a filmstrip and a video without their eval.json
    assert "nothing written" in capsys.readouterr().err
    result = evaluation.evaluate(str(tiny_world), str(heldout), str(out), **args)
    assert sorted(p.name for p in out.iterdir()) == ["eval.json", "filmstrip.png", "real_vs_dream.mp4"]
    assert json.loads((out / "eval.json").read_text())["starts"] == result["starts"]


def test_writing_the_outputs_says_what_was_not_written(tmp_path, capsys):
    def fails(path):
        raise OSError("disk full")

    pending = {"eval.json": lambda p: p.write_text("{}"), "filmstrip.png": lambda p: p.write_bytes(b"png"),
               "real_vs_dream.mp4": fails}
    with pytest.raises(OSError, match="disk full"):
        write_outputs(tmp_path, pending)
    err = capsys.readouterr().err
    assert "written: filmstrip.png; not written: real_vs_dream.mp4, eval.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filmstrip.png"]  # no eval.json, no temporary file


def test_what_a_new_user_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.split(">")[0].split("=")[0].strip() == "rich" for d in project["dependencies"])
    assert project["license"] == "MIT"  # the SPDX string, not the deprecated table
    from stable_baselines3.common.callbacks import ProgressBarCallback

    ProgressBarCallback()  # SB3's progress_bar=True: needs tqdm and rich
