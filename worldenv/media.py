"""Frames in and out of files: images and videos a user gives, and the pictures tools write.

`read_media` reads an image (PNG, JPEG, ...) or a video; `write_media` writes frames as a PNG
(one image, or a row of them) or as a lossless mp4 (pixel art stays crisp); `filmstrip` and
`side_by_side_video` put real frames next to dreamed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_media(path: str) -> np.ndarray:
    """An image as (1, H, W, 3) or a video as (t, H, W, 3) uint8; SystemExit naming the problem
    for a missing or unreadable file."""
    from model.recordings import RecordingError, decode_video

    p = Path(path)
    if not p.exists():
        raise SystemExit(f"error: {p} does not exist")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image

        try:
            return np.asarray(Image.open(p).convert("RGB"))[None]
        except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
            raise SystemExit(f"error: {p} is not an image PIL can read ({e})") from None
    try:
        return decode_video(p)
    except RecordingError as e:
        raise SystemExit(f"error: {e}") from None


def write_media(frames: np.ndarray, out: str, fps: int = 10) -> None:
    """Write frames (t, H, W, 3) or one image (H, W, 3) uint8: a .png path gets an image (several
    frames side by side), any other a lossless mp4. Prints where it wrote."""
    from model.recordings import EpisodeWriter

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        from PIL import Image

        Image.fromarray(frames if frames.ndim == 3 else np.concatenate(list(frames), 1)).save(path)
    else:
        w = EpisodeWriter(path.parent, path.stem, fps=fps)
        for f in frames:
            w.add(f, {"action": None})
        w.close(game="generated")
        (path.parent / f"{path.stem}.jsonl").unlink(missing_ok=True)  # a plain video, not a recording
    shape = "x".join(map(str, frames.shape))
    print(f"wrote {path} ({shape})")


def filmstrip(real: np.ndarray, dream: np.ndarray, path: Path, scale: int = 2) -> None:
    """PNG with the real frames (t, H, W, 3) on top and the dreamed ones below."""
    from PIL import Image

    top, bottom = np.concatenate(list(real), 1), np.concatenate(list(dream), 1)
    img = np.concatenate([top, np.full((4, top.shape[1], 3), 255, np.uint8), bottom], 0)
    Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST).save(path)


def side_by_side_video(real: np.ndarray, dream: np.ndarray, path: Path, scale: int = 4, fps: int = 10) -> None:
    """An H.264 mp4 of the real frames (t, H, W, 3) left and the dreamed ones right, `scale`d up."""
    import av

    frames = np.concatenate([real, np.full((len(real), real.shape[1], 2, 3), 255, np.uint8), dream], 2)
    frames = frames.repeat(scale, 1).repeat(scale, 2)
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]),
                                                           format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def write_outputs(out_dir: Path, pending: dict[str, Callable[[Path], None]], last: str = "eval.json") -> None:
    """Write each file of `pending` (name -> writer of a path) through a temporary name beside it,
    renamed into place when complete (`last`, the results' JSON, last, so that it stands for a
    complete set); a failure says which were written and which not, and leaves no temporary file."""
    import os
    import sys

    from model.checkpoint import umask_mode

    names = sorted(pending, key=lambda n: n == last)
    written: list[str] = []
    for name in names:
        tmp = out_dir / f".tmp-{os.getpid()}-{name}"  # the suffix stays: writers pick the format by it
        try:
            pending[name](tmp)
            os.chmod(tmp, umask_mode())
            os.replace(tmp, out_dir / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            left = [n for n in names if n not in written]
            print(f"evaluation: writing {out_dir / name} failed; written: {', '.join(written) or 'none'}; "
                  f"not written: {', '.join(left)}", file=sys.stderr)
            raise
        written.append(name)
