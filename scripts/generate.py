"""Prompt a world model with text, images and videos (the Sora report's capabilities).

    python scripts/generate.py text "a dark forest by a lake" --frames 8 --out runs/gen/text.mp4
    python scripts/generate.py image shot.png --frames 32 --actions 3 3 3 5 --out runs/gen/anim.mp4
    python scripts/generate.py extend clip.mp4 --forward 32 --out runs/gen/fwd.mp4
    python scripts/generate.py extend clip.mp4 --backward 4 --samples 3 --out runs/gen/back.mp4
    python scripts/generate.py loop shot.png --frames 6 --out runs/gen/loop.mp4
    python scripts/generate.py edit clip.mp4 --prompt "night" --strength 0.6 --out runs/gen/edit.mp4
    python scripts/generate.py connect a.mp4 b.mp4 --frames 4 --out runs/gen/connect.mp4
    python scripts/generate.py sample-image --size 72 72 --out runs/gen/image.png

`--world` picks the world folder (default: the shipped Crafter world). Videos are written as mp4
(lossless, so pixel art stays crisp), images as PNG. Each command prints where it wrote.
Python API: model/generate.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import generate as gen  # noqa: E402
from model.recordings import RecordingError, decode_video  # noqa: E402


def read_media(path: str) -> np.ndarray:
    """An image (PNG/JPEG) as (1, H, W, 3) or a video as (t, H, W, 3) uint8."""
    p = Path(path)
    if not p.exists():
        raise SystemExit(f"error: {p} does not exist")
    if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
        from PIL import Image

        return np.asarray(Image.open(p).convert("RGB"))[None]
    try:
        return decode_video(p)
    except RecordingError as e:
        raise SystemExit(f"error: {e}") from None


def fit(world, frames: np.ndarray) -> np.ndarray:
    """Resize frames to the world's native size when they differ (nearest, keeps pixel art crisp)."""
    from worldenv.dream_env import image_to_frame

    return np.stack([image_to_frame(f, world.frame_shape) for f in frames])


def write(frames: np.ndarray, out: str, fps: int = 10) -> None:
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


def main(argv=None) -> np.ndarray:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder (default: shipped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8, help="denoising steps (bidirectional tasks)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("text")
    s.add_argument("prompt")
    s.add_argument("--frames", type=int, default=8)
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"))
    s = sub.add_parser("image")
    s.add_argument("image")
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--actions", type=int, nargs="*", default=None, help="one action per new frame (cycled)")
    s = sub.add_parser("extend")
    s.add_argument("video")
    s.add_argument("--forward", type=int, default=0)
    s.add_argument("--backward", type=int, default=0)
    s.add_argument("--samples", type=int, default=1, help="backward: how many different beginnings")
    s = sub.add_parser("loop")
    s.add_argument("image")
    s.add_argument("--frames", type=int, default=6)
    s.add_argument("--prompt", default=None)
    s = sub.add_parser("edit")
    s.add_argument("video")
    s.add_argument("--prompt", required=True)
    s.add_argument("--strength", type=float, default=0.6)
    s = sub.add_parser("connect")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--frames", type=int, default=4)
    s = sub.add_parser("sample-image")
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"))
    s.add_argument("--prompt", default=None)
    for sp in sub.choices.values():
        sp.add_argument("--out", required=True)
    a = p.parse_args(argv)
    from worldenv.dream_env import load_world

    world = load_world(a.world or None, "cpu")
    try:
        if a.cmd == "text":
            out = gen.text_to_video(world, a.prompt, a.frames, a.steps, a.seed, tuple(a.size) if a.size else None)
        elif a.cmd == "image":
            img = fit(world, read_media(a.image)[:1])[0]
            acts = None
            if a.actions:
                acts = np.resize(np.array(a.actions), a.frames - 1)
            out = gen.animate_image(world, img, a.frames, acts, seed=a.seed)
        elif a.cmd == "extend":
            video = fit(world, read_media(a.video))
            if bool(a.forward) == bool(a.backward):
                raise SystemExit("error: give exactly one of --forward N or --backward N")
            if a.forward:
                out = np.concatenate([video, gen.extend_forward(world, video, a.forward, seed=a.seed)])
            else:
                outs = [gen.extend_backward(world, video, a.backward, a.steps, a.seed + i) for i in range(a.samples)]
                out = np.concatenate(outs, 2)  # the different beginnings side by side
        elif a.cmd == "loop":
            out = gen.make_loop(world, fit(world, read_media(a.image)[:1])[0], a.frames, a.steps, a.seed, a.prompt)
        elif a.cmd == "edit":
            out = gen.edit(world, fit(world, read_media(a.video)), a.prompt, a.strength, a.steps, a.seed)
        elif a.cmd == "connect":
            out = gen.connect(world, fit(world, read_media(a.a)), fit(world, read_media(a.b)), a.frames, a.steps,
                              a.seed)
        else:
            out = gen.sample_image(world, tuple(a.size) if a.size else None, a.prompt, a.steps, a.seed)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    write(out, a.out)
    return out


if __name__ == "__main__":
    main()
