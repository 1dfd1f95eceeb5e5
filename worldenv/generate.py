"""Prompt a world model with text, images and videos (the Sora report's capabilities): the command line.

    soraworld-generate text "a dark forest by a lake" --frames 8 --out runs/gen/text.mp4
    soraworld-generate image shot.png --frames 32 --actions 3 3 3 5 --out runs/gen/anim.mp4
    soraworld-generate extend clip.mp4 --forward 32 --out runs/gen/fwd.mp4
    soraworld-generate extend clip.mp4 --backward 4 --samples 3 --out runs/gen/back.mp4
    soraworld-generate loop shot.png --frames 6 --out runs/gen/loop.mp4
    soraworld-generate edit clip.mp4 --prompt "night" --strength 0.6 --out runs/gen/edit.mp4
    soraworld-generate connect a.mp4 b.mp4 --frames 4 --out runs/gen/connect.mp4
    soraworld-generate sample-image --size 72 72 --out runs/gen/image.png

`--world` picks the world (a shipped world's name or a folder; default: the shipped one). Videos
are written as mp4 (lossless, so pixel art stays crisp), images as PNG. Each command prints where
it wrote. Python API: `model.generate`.
"""

from __future__ import annotations

import argparse

import numpy as np

from worldenv.media import read_media, write_media


def fit(world, frames: np.ndarray) -> np.ndarray:
    """Resize frames to the world's native size when they differ (nearest, keeps pixel art crisp)."""
    from worldenv.start_states import image_to_frame

    return np.stack([image_to_frame(f, world.frame_shape) for f in frames])


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options and one subcommand per capability."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder or shipped world's name (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8, help="denoising steps (bidirectional tasks)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("text", help="text to video")
    s.add_argument("prompt")
    s.add_argument("--frames", type=int, default=8)
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"))
    s = sub.add_parser("image", help="animate an image (optionally with actions)")
    s.add_argument("image")
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--actions", type=int, nargs="*", default=None, help="one action per new frame (cycled)")
    s = sub.add_parser("extend", help="extend a video forward or backward in time")
    s.add_argument("video")
    s.add_argument("--forward", type=int, default=0)
    s.add_argument("--backward", type=int, default=0)
    s.add_argument("--samples", type=int, default=1, help="backward: how many different beginnings")
    s = sub.add_parser("loop", help="a seamless loop from an image")
    s.add_argument("image")
    s.add_argument("--frames", type=int, default=6)
    s.add_argument("--prompt", default=None)
    s = sub.add_parser("edit", help="edit a video with a text prompt")
    s.add_argument("video")
    s.add_argument("--prompt", required=True)
    s.add_argument("--strength", type=float, default=0.6)
    s = sub.add_parser("connect", help="frames that connect two videos")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--frames", type=int, default=4)
    s = sub.add_parser("sample-image", help="one image (optionally from a prompt)")
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"))
    s.add_argument("--prompt", default=None)
    for sp in sub.choices.values():
        sp.add_argument("--out", required=True)
    return p


def run(world, a: argparse.Namespace) -> np.ndarray:
    """The frames subcommand `a.cmd` generates with the loaded `world` (SystemExit for a bad request)."""
    from model import generate as gen

    try:
        if a.cmd == "text":
            return gen.text_to_video(world, a.prompt, a.frames, a.steps, a.seed, tuple(a.size) if a.size else None)
        if a.cmd == "image":
            img = fit(world, read_media(a.image)[:1])[0]
            acts = np.resize(np.array(a.actions), a.frames - 1) if a.actions else None
            return gen.animate_image(world, img, a.frames, acts, seed=a.seed)
        if a.cmd == "extend":
            video = fit(world, read_media(a.video))
            if bool(a.forward) == bool(a.backward):
                raise SystemExit("error: give exactly one of --forward N or --backward N")
            if a.forward:
                return np.concatenate([video, gen.extend_forward(world, video, a.forward, seed=a.seed)])
            outs = [gen.extend_backward(world, video, a.backward, a.steps, a.seed + i) for i in range(a.samples)]
            return np.concatenate(outs, 2)  # the different beginnings side by side
        if a.cmd == "loop":
            return gen.make_loop(world, fit(world, read_media(a.image)[:1])[0], a.frames, a.steps, a.seed, a.prompt)
        if a.cmd == "edit":
            return gen.edit(world, fit(world, read_media(a.video)), a.prompt, a.strength, a.steps, a.seed)
        if a.cmd == "connect":
            return gen.connect(world, fit(world, read_media(a.a)), fit(world, read_media(a.b)), a.frames, a.steps,
                               a.seed)
        return gen.sample_image(world, tuple(a.size) if a.size else None, a.prompt, a.steps, a.seed)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def main(argv=None) -> np.ndarray:
    a = build_parser().parse_args(argv)
    from worldenv.worlds import load_world

    world = load_world(a.world or None, "cpu")
    out = run(world, a)
    write_media(out, a.out)
    return out
