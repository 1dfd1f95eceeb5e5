"""Measure the prompting capabilities (Sora's prompting) on held-out Crafter recordings.

    python scripts/evaluate_prompting.py --data data/crafter72_heldout --json runs/eval_prompting.json

- text: caption consistency of generated frames (the Crafter parser checks the prompt's facts:
  daylight, and each named terrain appearing in view) for training-style and paraphrased prompts.
- backward extension / connect: tile accuracy at the joins (generated frame next to a given one).
- loop: tile accuracy between the last and the first frame.
- edit: caption consistency of the edited clip and tile accuracy vs the input (structure kept).
- sizes: text-to-video at each of `sizes_for(world)`: the world's own size and two wider renders
  about 13 and 18 of its tiles across (96x72 and 144x72 for a 72x72 world). Tile validity
  (share of tiles that look like a real Crafter tile) and caption consistency, parsed with the
  tile view a Crafter render of that size has. The shipped world trained at 72x72 only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from model import generate as gen
from model.cli import command_line
from model.data import episode_arrays
from model.recordings import list_episodes
from worldenv.games.crafter.caption_facts import CRAFTER_FACTS
from worldenv.games.crafter.parse import MATERIAL_CLASSES, CrafterFrameParser
from worldenv.worlds import load_world

PROMPTS = [  # (training-style caption, paraphrase with the same facts)
    ("Day in grassland and trees.", "a sunny meadow next to the woods"),
    ("Night in grassland.", "dark fields at midnight"),
    ("Day in grassland. Also in view: water.", "a bright morning by a lake with grass"),
    ("Day in stone and cave paths.", "daytime in rocky mountains with tunnels"),
    ("Day in sand and water.", "a sunny beach by the sea"),
]

COLUMNS = (9, 13, 18)  # tiles across: Crafter's square view, then about this many for wider ones


def sizes_for(world) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """name -> ((W, H), tile view (cols, 9)) at the world's frame height and tile size (H // 9 px):
    for each of COLUMNS, the nearest column count whose render the world can generate (a width
    that is a multiple of 8 x its patch size and still gives tiles of that size)."""
    h = world.frame_shape[0]
    unit, mult = h // 9, 8 * world.dit.cfg.patch
    sizes = {}
    for target in COLUMNS:
        for cols in sorted(range(max(1, target - 3), target + 4), key=lambda c: (abs(c - target), c)):
            w = -(-unit * cols // mult) * mult  # smallest generable width that fits the tiles
            if w // cols == unit:
                sizes[f"{w}x{h}"] = ((w, h), (cols, 9))
                break
    return sizes


def consistency(parser, frames: np.ndarray, prompt: str) -> float:
    """Share of (frame, fact) checks that hold: daylight bucket, and each terrain present in view."""
    p = parser.parse(frames)
    checks = []
    for fact in CRAFTER_FACTS.facts(prompt):
        kind, name = fact.split(":")
        if kind == "daylight" and name in ("day", "night"):
            checks += list(p.daylight > 0.5) if name == "day" else list(p.daylight < 0.5)
        elif kind == "terrain" and name in MATERIAL_CLASSES:
            checks += [bool((t == MATERIAL_CLASSES[name]).any()) for t in p.tiles]
    return float(np.mean(checks)) if checks else float("nan")


def tile_acc(parser, a: np.ndarray, b: np.ndarray) -> float:
    return float((parser.parse(a).tiles == parser.parse(b).tiles).mean())


def evaluate_prompting(world: str = "", data: str = "", clips: int = 6, seeds: int = 3, steps: int = 8) -> dict:
    """Every measure of the module docstring for the world folder `world` (shipped: "") on
    `clips` held-out clips of `data`, `seeds` samples per prompt, `steps` denoising steps."""
    world = load_world(world or None, "cpu")
    h0, w0 = world.frame_shape[:2]
    parser = CrafterFrameParser(size=(w0, h0))  # frames are generated at the world's size
    W = world.dit.cfg.window
    rng = np.random.default_rng(0)
    picked = []
    for info in list_episodes(data):
        ep = episode_arrays(data, info)
        if len(ep.frames) >= 2 * W:
            s = int(rng.integers(0, len(ep.frames) - 2 * W + 1))
            picked.append(ep.frames[s : s + 2 * W])
        if len(picked) == clips:
            break
    r: dict = {"text": {"seen": [], "paraphrased": [], "no_prompt": []}}
    for seen, para in PROMPTS:
        for s in range(seeds):
            r["text"]["seen"].append(consistency(parser, gen.text_to_video(world, seen, W, steps, s), seen))
            r["text"]["paraphrased"].append(consistency(parser, gen.text_to_video(world, para, W, steps, s), para))
            # baseline: the same facts checked on frames generated without any prompt
            r["text"]["no_prompt"].append(consistency(parser, gen.text_to_video(world, "", W, steps, s), seen))
    r["sizes"] = {}
    for name, (size, view) in sizes_for(world).items():
        p_size = CrafterFrameParser(size=size, view=view)
        valid, cons = [], []
        for seen, _ in PROMPTS:
            for s in range(seeds):
                frames = gen.text_to_video(world, seen, W, steps, s, size)
                valid.append(p_size.tile_validity(frames))
                cons.append(consistency(p_size, frames, seen))
        r["sizes"][name] = {"tile_validity": float(np.mean(valid)), "caption_consistency": float(np.nanmean(cons))}
    half = W // 2
    back, conn_a, conn_b, loops, edit_c, edit_t = [], [], [], [], [], []
    for i, c in enumerate(picked):
        given = c[half:W]
        out = gen.extend_backward(world, given, half, steps, i)
        back.append(tile_acc(parser, out[half - 1 : half], given[:1]))
        mid = gen.connect(world, c[:half], c[W:], W - 2, steps, i)
        conn_a.append(tile_acc(parser, mid[1:2], c[half - 1 : half]))
        conn_b.append(tile_acc(parser, mid[-2:-1], c[W : W + 1]))
        loop = gen.make_loop(world, c[0], W - 1, steps, i)
        loops.append(tile_acc(parser, loop[-1:], loop[:1]))
        edited = gen.edit(world, c[:W], "night", 0.5, steps, i)
        edit_c.append(consistency(parser, edited, "night"))
        edit_t.append(tile_acc(parser, edited, c[:W]))
    r.update({
        "text_consistency_seen": float(np.nanmean(r["text"]["seen"])),
        "text_consistency_paraphrased": float(np.nanmean(r["text"]["paraphrased"])),
        "text_consistency_no_prompt": float(np.nanmean(r["text"]["no_prompt"])),
        "backward_join_tile_acc": float(np.mean(back)),
        "connect_join_tile_acc_start": float(np.mean(conn_a)), "connect_join_tile_acc_end": float(np.mean(conn_b)),
        "loop_last_vs_first_tile_acc": float(np.mean(loops)),
        "edit_night_consistency": float(np.mean(edit_c)), "edit_structure_tile_acc": float(np.mean(edit_t)),
        "clips": len(picked), "seeds": seeds, "steps": steps,
    })
    return r


@command_line
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="", help="world folder or shipped world's name (default: the shipped one)")
    ap.add_argument("--data", required=True, help="held-out Crafter recordings (soraworld-collect's format)")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", default="runs/eval_prompting.json")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    r = evaluate_prompting(a.world, a.data, a.clips, a.seeds, a.steps)
    for k, v in r.items():
        if not isinstance(v, dict):
            print(f"{k:<32} {v:.3f}" if isinstance(v, float) else f"{k:<32} {v}")
    for name, m in r["sizes"].items():
        print(f"text-to-video {name:<18} tile validity {m['tile_validity']:.3f}, "
              f"caption consistency {m['caption_consistency']:.3f}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(r, indent=1))
    print(f"wrote {a.json}")
    return r
