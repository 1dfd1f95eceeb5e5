"""Prompt a world model with text, images and videos (the Sora report's capabilities): the command line.

    soraworld-generate text "a dark forest by a lake" --frames 8 --out runs/gen/text.mp4
    soraworld-generate image examples/shot.png --frames 32 --actions 3 3 3 5 --out runs/gen/anim.mp4
    soraworld-generate extend examples/a.mp4 --forward 32 --out runs/gen/fwd.mp4
    soraworld-generate extend examples/a.mp4 --backward 4 --samples 3 --out runs/gen/back.mp4
    soraworld-generate loop examples/shot.png --frames 6 --out runs/gen/loop.mp4
    soraworld-generate edit examples/a.mp4 --prompt "night" --strength 0.6 --out runs/gen/edit.mp4
    soraworld-generate connect examples/a.mp4 examples/b.mp4 --frames 4 --out runs/gen/connect.mp4
    soraworld-generate sample-image --size 72 72 --out runs/gen/image.png

`--world` picks the world (a shipped world's name or a folder; default: the shipped one). The
examples/ folder holds small prompts made from the shipped world's start clips (a 72x72 image,
two 7-frame clips). Inputs of another size are resized to the world's (nearest neighbour), and of
another aspect first cropped to it about the centre; a note says so. Edit and connect take clips
of any length. Videos are written as mp4 (lossless, so pixel art stays crisp), images as PNG.
Each command prints where it wrote. Python API: `model.generate`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from model.cli import command_line
from worldenv.media import read_media, write_media


def fit(world, frames: np.ndarray, name: str = "the input") -> np.ndarray:
    """Frames at the world's native size: of another aspect, first cropped to the world's about
    their centre, then resized (nearest, keeps pixel art crisp); a note on stderr says what was done."""
    from worldenv.start_states import image_to_frame

    frames = np.asarray(frames)
    h, w = world.frame_shape[:2]
    fh, fw = frames.shape[1:3]
    if (fh, fw) == (h, w):
        return np.array(frames)  # a copy: an image read by PIL is read-only
    done = []
    if fw * h != fh * w:  # another aspect: the largest centred crop of the world's aspect
        cw, ch = (fw, fw * h // w) if fw * h <= fh * w else (fh * w // h, fh)
        top, left = (fh - ch) // 2, (fw - cw) // 2
        frames = frames[:, top : top + ch, left : left + cw]
        done.append(f"cropped to its centre {cw}x{ch} (the world's aspect, {w}:{h})")
        if (ch, cw) != (h, w):
            done.append(f"resized to {w}x{h}")
    else:
        done.append(f"resized to {w}x{h}")
    print(f"note: {name} is {fw}x{fh}, the world dreams {w}x{h}: {', then '.join(done)}", file=sys.stderr)
    return np.stack([image_to_frame(f, world.frame_shape) for f in frames])


def action_help(world: str | None = None) -> str:
    """The actions of `world` (a folder or shipped world's name; None: the shipped one) as its game
    names them ("0 noop, 1 move_left, ..."), read from its DiT's header and the game's plugin; ""
    where the world or its game cannot be read."""
    from types import SimpleNamespace

    from worldenv.worlds import world_game, world_path

    try:
        from safetensors import safe_open

        with safe_open(str(world_path(world) / "dit.safetensors"), framework="pt") as f:
            meta = f.metadata() or {}
        import json

        game = world_game(SimpleNamespace(meta={"game": json.loads(meta.get("game", "null"))}))
        if game is None:
            return ""
        names = list(game.action_names())
    except Exception:  # noqa: BLE001 - help text only: never fail --help over it
        return ""
    if len(game.action_nvec) == 1 and len(names) == game.action_nvec[0]:
        listed = ", ".join(f"{i} {n}" for i, n in enumerate(names))
    else:
        listed = ", ".join(names)
    return f"{game.name} actions: {listed}"


def build_parser(world: str | None = None) -> argparse.ArgumentParser:
    """The command line: global options and one subcommand per capability; the help of `--actions`
    names the actions of `world` (default: the shipped one)."""
    import textwrap

    actions = action_help(world)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=textwrap.fill(f"Action numbers (image --actions): {actions}") if actions else None)
    p.add_argument("--world", default="", help="world folder or shipped world's name (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8, help="denoising steps (bidirectional tasks)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("text", help="text to video")
    s.add_argument("prompt")
    s.add_argument("--frames", type=int, default=8)
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"))
    s = sub.add_parser("image", help="animate an image (optionally with actions)",
                       description="Animate an image: it is the first frame, the dream goes on from it with the "
                                   "actions given. " + actions)
    s.add_argument("image")
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--actions", type=int, nargs="*", default=None,
                   help="one action per new frame (cycled; none given: no action)" + (f". {actions}" if actions else ""))
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
            img = fit(world, read_media(a.image)[:1], a.image)[0]
            acts = np.resize(np.array(a.actions), a.frames - 1) if a.actions else None
            return gen.animate_image(world, img, a.frames, acts, seed=a.seed)
        if a.cmd == "extend":
            video = fit(world, read_media(a.video), a.video)
            if bool(a.forward) == bool(a.backward):
                raise SystemExit("error: give exactly one of --forward N or --backward N")
            if a.forward:
                return np.concatenate([video, gen.extend_forward(world, video, a.forward, seed=a.seed)])
            outs = [gen.extend_backward(world, video, a.backward, a.steps, a.seed + i) for i in range(a.samples)]
            return np.concatenate(outs, 2)  # the different beginnings side by side
        if a.cmd == "loop":
            return gen.make_loop(world, fit(world, read_media(a.image)[:1], a.image)[0], a.frames, a.steps, a.seed,
                                 a.prompt)
        if a.cmd == "edit":
            return gen.edit(world, fit(world, read_media(a.video), a.video), a.prompt, a.strength, a.steps, a.seed)
        if a.cmd == "connect":
            clip_a, clip_b = read_media(a.a), read_media(a.b)
            if clip_a.shape[1:] != clip_b.shape[1:]:
                raise SystemExit(f"error: connect needs two clips of one size: {a.a} is "
                                 f"{clip_a.shape[2]}x{clip_a.shape[1]}, {a.b} is {clip_b.shape[2]}x{clip_b.shape[1]}")
            return gen.connect(world, fit(world, clip_a, a.a), fit(world, clip_b, a.b), a.frames, a.steps, a.seed)
        return gen.sample_image(world, tuple(a.size) if a.size else None, a.prompt, a.steps, a.seed)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


@command_line
def main(argv=None) -> np.ndarray:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--world", default="")
    a = build_parser(pre.parse_known_args(argv)[0].world or None).parse_args(argv)
    from worldenv.worlds import load_world

    world = load_world(a.world or None, "cpu")
    out = run(world, a)
    write_media(out, a.out)
    return out
