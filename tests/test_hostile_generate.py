"""Hostile tests (issue 39) of prompting a world (`scripts/generate.py`) as a new user would: edit
and connect on clips of any length, clips of other sizes and aspects, the action numbers in
--help, and every example of the README and docs run as written with the shipped examples."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import generate as gen
from model.recordings import decode_video
from model.rollout import WorldModel
from worldenv import generate
from worldenv.media import write_media

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def run(world, *args):
    return generate.main(["--world", str(world), "--steps", "1", *map(str, args)])


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory, tiny_world):
    """A 20-frame clip (longer than the tiny world's window of 6) and a 64x64 and a 72x72 clip."""
    folder = tmp_path_factory.mktemp("long")
    bank = WorldModel.load(tiny_world).start_frames.numpy()
    write_media(np.concatenate(list(bank)), str(folder / "long.mp4"))  # 4 clips of 5 frames
    big = np.stack([np.asarray(Image.fromarray(f).resize((72, 72), Image.NEAREST)) for f in bank[1]])
    write_media(big, str(folder / "big.mp4"))
    return folder


def test_edit_and_connect_work_on_clips_longer_than_the_window(tiny_world, long_clips, tmp_path):
    window = WorldModel.load(tiny_world).dit.cfg.window
    assert window < 20
    out = run(tiny_world, "edit", long_clips / "long.mp4", "--prompt", "night", "--strength", 0.5,
              "--out", tmp_path / "e.mp4")
    assert out.shape == (20, 64, 64, 3) and decode_video(tmp_path / "e.mp4").shape == (20, 64, 64, 3)
    out = run(tiny_world, "connect", long_clips / "long.mp4", long_clips / "long.mp4", "--frames", 13,
              "--out", tmp_path / "c.mp4")
    assert out.shape == (1 + 13 + 1, 64, 64, 3)
    world = WorldModel.load(tiny_world)
    clip = world.start_frames[0].numpy()
    long = gen.connect(world, clip, clip, frames=9, steps=1, context=2)
    assert long.shape == (2 + 9 + 2, 64, 64, 3)


def test_connect_refuses_clips_of_different_sizes(tiny_world, long_clips, tmp_path):
    with pytest.raises(SystemExit, match="two clips of one size.*64x64.*72x72"):
        run(tiny_world, "connect", long_clips / "long.mp4", long_clips / "big.mp4", "--out", tmp_path / "c.mp4")
    world = WorldModel.load(tiny_world)
    with pytest.raises(ValueError, match="one frame size"):
        gen.connect(world, np.zeros((3, 64, 64, 3), np.uint8), np.zeros((3, 64, 96, 3), np.uint8), 2)


def test_an_input_of_another_aspect_is_cropped_and_said_so(tiny_world, tmp_path, capsys):
    shot = np.zeros((80, 64, 3), np.uint8)  # a screenshot with a 16-pixel bar below the 64x64 view
    shot[:64] = WorldModel.load(tiny_world).start_frames[0, -1].numpy()
    shot[64:] = 255
    Image.fromarray(shot[8:72]).save(tmp_path / "centre.png")
    Image.fromarray(shot).save(tmp_path / "shot.png")
    out = run(tiny_world, "image", tmp_path / "shot.png", "--frames", 2, "--out", tmp_path / "i.mp4")
    err = capsys.readouterr().err
    assert "is 64x80" in err and "cropped to its centre 64x64" in err
    assert np.array_equal(out[0], np.asarray(Image.open(tmp_path / "centre.png")))  # not squashed
    same = np.zeros((32, 32, 3), np.uint8)
    Image.fromarray(same).save(tmp_path / "small.png")
    run(tiny_world, "image", tmp_path / "small.png", "--frames", 2, "--out", tmp_path / "j.mp4")
    err = capsys.readouterr().err
    assert "resized to 64x64" in err and "cropped" not in err


def test_help_names_the_action_numbers(capsys):
    for argv in (["--help"], ["image", "--help"]):
        with pytest.raises(SystemExit):
            generate.main(argv)
        said = " ".join(capsys.readouterr().out.split())
        assert "0 noop, 1 move_left, 2 move_right, 3 move_up, 4 move_down, 5 do" in said


def doc_commands(prefix: str) -> list[tuple[str, str]]:
    """(file, line) of every command line starting with `prefix` in the README and docs/."""
    found = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            line = line.strip().lstrip("$ ")
            if line.startswith(prefix):
                found.append((doc.name, line.split("  #")[0]))
    return found


def test_every_generate_example_of_the_docs_runs_as_written(tmp_path, monkeypatch):
    """The examples name the shipped world and the shipped examples/ files; outputs go to tmp."""
    commands = doc_commands("python scripts/generate.py")
    commands += [("worldenv/generate.py", line.strip().replace("soraworld-generate", "python scripts/generate.py"))
                 for line in generate.__doc__.splitlines() if line.strip().startswith("soraworld-generate")]
    assert len(commands) >= 8
    monkeypatch.chdir(ROOT)  # the examples' paths are the repo's
    for where, line in commands:
        argv = shlex.split(line)[2:]
        for name in argv:
            if re.search(r"\.(png|mp4)$", name) and not name.startswith("runs/"):
                assert (ROOT / name).exists(), f"{where}: {line}: {name} does not exist"
        argv = [str(tmp_path / a) if a.startswith("runs/") else a for a in argv]
        generate.build_parser().parse_args(argv)
    for where, line in dict.fromkeys(commands):
        argv = [str(tmp_path / a) if a.startswith("runs/") else a for a in shlex.split(line)[2:]]
        out = generate.main(argv)
        assert out.dtype == np.uint8 and out.size, f"{where}: {line}"


def test_the_readme_python_example_runs_as_written(monkeypatch):
    block = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block and "examples/" in block[0]
    monkeypatch.chdir(ROOT)
    exec(compile(block[0], "README.md", "exec"), {})


def test_example_prompts_ship_small(monkeypatch):
    from worldenv.media import read_media

    monkeypatch.chdir(ROOT)
    shot, a, b = read_media("examples/shot.png"), read_media("examples/a.mp4"), read_media("examples/b.mp4")
    assert shot.shape == (1, 72, 72, 3) and a.shape[1:] == b.shape[1:] == (72, 72, 3) and len(a) >= 2
    for f in ("shot.png", "a.mp4", "b.mp4"):
        assert (ROOT / "examples" / f).stat().st_size < 40_000
