"""`soraworld-generate`: every subcommand runs end to end and writes a decodable file of the asked size."""

import numpy as np
import pytest
from PIL import Image

from model.recordings import decode_video
from worldenv import generate
from worldenv.media import write_media


@pytest.fixture(scope="module")
def media(tmp_path_factory, tiny_world):
    from model.rollout import WorldModel

    folder = tmp_path_factory.mktemp("media")
    bank = WorldModel.load(tiny_world).start_frames.numpy()
    Image.fromarray(bank[0, -1]).save(folder / "shot.png")
    write_media(bank[0], str(folder / "a.mp4"))
    write_media(bank[1], str(folder / "b.mp4"))
    return folder


def run(tiny_world, *args):
    return generate.main(["--world", str(tiny_world), "--steps", "2", *map(str, args)])


def test_text_to_video(tiny_world, tmp_path):
    out = run(tiny_world, "text", "a dark forest by a lake", "--frames", 4, "--out", tmp_path / "t.mp4")
    assert decode_video(tmp_path / "t.mp4").shape == (4, 64, 64, 3) and out.shape == (4, 64, 64, 3)


def test_image_animation_with_actions(tiny_world, media, tmp_path):
    run(tiny_world, "image", media / "shot.png", "--frames", 6, "--actions", 3, 5, "--out", tmp_path / "i.mp4")
    video = decode_video(tmp_path / "i.mp4")
    assert video.shape == (6, 64, 64, 3)
    assert np.array_equal(video[0], np.asarray(Image.open(media / "shot.png")))


def test_extend_forward_and_backward(tiny_world, media, tmp_path):
    run(tiny_world, "extend", media / "a.mp4", "--forward", 7, "--out", tmp_path / "f.mp4")
    assert decode_video(tmp_path / "f.mp4").shape == (5 + 7, 64, 64, 3)
    out = run(tiny_world, "extend", media / "a.mp4", "--backward", 3, "--samples", 2, "--out", tmp_path / "b.mp4")
    assert out.shape == (6, 64, 128, 3)  # 3 new + 3 given frames; two beginnings side by side
    with pytest.raises(SystemExit, match="exactly one"):
        run(tiny_world, "extend", media / "a.mp4", "--out", tmp_path / "x.mp4")


def test_loop_edit_connect_sample_image(tiny_world, media, tmp_path):
    assert run(tiny_world, "loop", media / "shot.png", "--frames", 4, "--out", tmp_path / "l.mp4").shape[0] == 4
    out = run(tiny_world, "edit", media / "a.mp4", "--prompt", "night in the desert", "--strength", 0.5,
              "--out", tmp_path / "e.mp4")
    assert out.shape == (5, 64, 64, 3)
    assert run(tiny_world, "connect", media / "a.mp4", media / "b.mp4", "--frames", 2,
               "--out", tmp_path / "c.mp4").shape == (4, 64, 64, 3)
    img = run(tiny_world, "sample-image", "--size", 96, 48, "--out", tmp_path / "s.png")
    assert np.asarray(Image.open(tmp_path / "s.png")).shape == (48, 96, 3) and img.shape == (48, 96, 3)


def test_bad_requests(tiny_world, media, tmp_path):
    with pytest.raises(SystemExit, match="window"):
        run(tiny_world, "text", "day", "--frames", 50, "--out", tmp_path / "t.mp4")
    with pytest.raises(SystemExit, match="multiple of 16"):
        run(tiny_world, "sample-image", "--size", 60, 60, "--out", tmp_path / "s.png")
    with pytest.raises(SystemExit, match="does not exist"):
        run(tiny_world, "loop", tmp_path / "nope.png", "--out", tmp_path / "l.mp4")
    with pytest.raises(SystemExit, match="strength"):
        run(tiny_world, "edit", media / "a.mp4", "--prompt", "x", "--strength", 1.5, "--out", tmp_path / "e.mp4")
