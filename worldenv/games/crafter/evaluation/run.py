"""Evaluate a world model of Crafter on held-out recordings (metrics defined in docs/evaluation.md).

    soraworld-evaluate --model worldenv/worlds/crafter72 --data data/crafter72_heldout --out runs/eval

- Teacher-forced fidelity at horizons 1, 8, 32, 128: start from real frames, feed the real
  actions, generate without seeing real frames again; compare frame k with the real frame k
  (PSNR, tile accuracy, inventory accuracy), next to the same for the baseline that repeats the
  last real frame; tile accuracy also split by the real frame's light (day / Crafter's grainy night);
  and each tile class's share of the views, game against dream (`fidelity`).
- Reward prediction: precision/recall of the unlock head on real frames (teacher forcing; `heads`).
- Action controllability: from real states, each of the 4 moves whose target tile is walkable is
  dreamed for one step; an inverse-dynamics check recovers the move from the tile shift. Moves
  into a tile the player cannot enter (the game only turns the player) should leave the view
  still: `blocked_still` is the share that do (`controllability`).
- Fresh strips: a step into a walkable tile brings a strip of view the last frame never showed,
  which the dream must draw. From real states, the real move is dreamed for one step and the
  share of each tile class in that strip is compared with the game's (a world that draws too
  few trees there runs out of them over a long dream; `strips`, docs/results/world.md).
- Stability: a closed-loop rollout with random actions (10,000 steps by default); tile-class
  validity and mean frame change every 1000 steps (`stability`).
The fidelity and the moves dream under the game's rules asked for with `--rules` (by default the
game's clock, "daylight", as the dream env shows a Crafter world's nights; "game" for all the
rules the dream env keeps: inventory, terrain, daylight); the fresh strips and the stability
under the clock alone, where it is asked for.
Prints a table, writes `<out>/eval.json`, a filmstrip PNG (real row vs dream row) and an mp4
with real and dream side by side. Nothing is written until every measure is done, each file through
a temporary name: an evaluation that fails part-way leaves `<out>` as it was and says which files
it did not write.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from model.cli import command_line
from model.recordings import draw_windows, list_episodes, recorded_view
from model.rollout import WorldModel
from worldenv.cli import rules_from_flag
from worldenv.games.crafter.evaluation.context import context_use
from worldenv.games.crafter.evaluation.controllability import controllability
from worldenv.games.crafter.evaluation.dreams import clock_rules, evaluation_rules, load_starts
from worldenv.games.crafter.evaluation.fidelity import teacher_forced
from worldenv.games.crafter.evaluation.heads import reward_precision_recall
from worldenv.games.crafter.evaluation.places import prompts_places
from worldenv.games.crafter.evaluation.stability import stability, tile_kinds
from worldenv.games.crafter.evaluation.strips import fresh_strips
from worldenv.games.crafter.parse import CrafterFrameParser
from worldenv.media import filmstrip, side_by_side_video, write_outputs

# the rules a longer prompt (--history) reaches: the memory of the world seen, the clock
HISTORY_RULES = ("terrain", "daylight")


def evaluate(model: str, data: str, out: str, starts: int = 16, horizons=(1, 8, 32, 128), steps: int = 2,
             stability_steps: int = 10_000, every: int = 1000, reward_frames: int = 3000, seed: int = 0,
             context_sigma: float | None = None, reground: bool | None = None,
             guidance: float | None = None, context_windows: int = 256,
             start_sigma: float | None = None, move_gate: bool = True, fresh_steps: int | None = None,
             fresh_windows: int = 512, rules: str | Sequence[str] | None = None, history: int = 0) -> dict:
    """Run every measure of the module docstring on the world folder `model` and the recordings
    `data`; write `<out>/eval.json` and the pictures, print the table, return the result.
    `rules`: None (the game's clock where it has one), "game", "none" or rule names."""
    world = WorldModel.load(model)
    k = world.dit.cfg.window - 1
    # How every dream here is run: the world's stored settings unless overridden.
    given = {"context_sigma": context_sigma, "reground": reground, "guidance": guidance, "start_sigma": start_sigma,
             "fresh_steps": fresh_steps}
    roll_kw = {**world.rollout_defaults, **{k: v for k, v in given.items() if v is not None}}
    roll_kw["move_gate"] = move_gate and world.move_gate is not None  # whether refused moves keep the view still
    names = evaluation_rules(world, rules)
    if history < 0:
        raise ValueError(f"history must be >= 0 frames, got {history}")
    if history and not set(HISTORY_RULES) & set(names):
        raise ValueError("history frames are given to the game's rules only (the memory of the world seen, the "
                         f"clock): use it with the rules {' or '.join(HISTORY_RULES)}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    pending: dict[str, Callable[[Path], None]] = {}  # file name -> what writes it, once all is measured
    try:
        result = _measure(world, model, data, starts, horizons, steps, stability_steps, every, reward_frames, seed,
                          context_windows, fresh_windows, history, k, roll_kw, names, pending)
        pending["eval.json"] = lambda path: path.write_text(json.dumps(result, indent=1))
    except BaseException:
        print(f"evaluation failed: nothing written to {out_dir} ({', '.join(EVAL_FILES)} not written)",
              file=sys.stderr)
        raise
    write_outputs(out_dir, pending)
    print_table(result)
    print(f"wrote {', '.join(str(out_dir / name) for name in pending)}")
    return result


EVAL_FILES = ("eval.json", "filmstrip.png", "real_vs_dream.mp4", "stability_filmstrip.png")


def _measure(world, model, data, starts, horizons, steps, stability_steps, every, reward_frames, seed,
             context_windows, fresh_windows, history, k, roll_kw, names, pending) -> dict:
    """Every measure of `evaluate`; the pictures go into `pending` (name -> writer)."""
    t0 = time.time()
    # as many starts per episode as it takes to reach `starts` (one each when there are enough episodes)
    per_episode = -(-starts // len(list_episodes(data)))
    loaded = load_starts(data, k, max(horizons), starts, seed, per_episode=per_episode, history=history)
    clips, acts, asleep = loaded.frames, loaded.actions, loaded.asleep
    # The data's own size and tile view (widescreen recordings are evaluated at their size).
    h, w = clips.shape[2:4]
    parser = CrafterFrameParser(size=(w, h), view=recorded_view(data))
    try:  # which places of each scored view the prompt showed, from the game's own map (Crafter recordings)
        places = prompts_places(data, draw_windows(data, k + max(horizons), starts, seed, per_episode), k, horizons,
                                history)
    except ValueError:  # recordings without the game's map: not split
        places = None
    fidelity, dream = teacher_forced(world, parser, clips, acts, k, horizons, steps, seed, roll_kw, names,
                                     loaded.prompts, places)
    n_show = min(16, dream.shape[1])
    pending["filmstrip.png"] = lambda path: filmstrip(clips[0, k : k + n_show], dream[0, :n_show], path)
    pending["real_vs_dream.mp4"] = lambda path: side_by_side_video(clips[0, k:], dream[0], path)
    result = {
        "model": model, "data": data, "frame_size": [int(w), int(h)], "starts": int(len(clips)), "context": k,
        "denoise_steps": steps, "fidelity": fidelity, "rules": list(names), "history": history,
        **roll_kw,
        "reward": reward_precision_recall(world, data, k, reward_frames, seed, roll_kw),
        "controllability": controllability(world, parser, clips, acts, k, steps, seed, roll_kw, asleep, names),
        "context_use": context_use(world, *load_starts(data, k, 1, context_windows, seed + 1, per_episode=16)[:2],
                                   k, seed),
    }
    if fresh_windows:
        fresh = load_starts(data, k, 1, fresh_windows, seed + 2, per_episode=-(-fresh_windows // len(list_episodes(data))))
        result["fresh_strips"] = fresh_strips(world, parser, *fresh[:2], k, steps, seed, roll_kw, clock_rules(names))
    if stability_steps:
        # the real game's variety, for the stability curve's tile kinds: every 4th frame of the clips
        result["real_tile_kinds"] = tile_kinds(parser.parse(clips[:, ::4].reshape(-1, *clips.shape[2:])).tiles)
        result["stability"], snaps = stability(world, parser, clips, acts, k, stability_steps, every, steps,
                                               seed, roll_kw, clock_rules(names))
        # top: the real start frame repeated; bottom: the dream every `every` steps
        pending["stability_filmstrip.png"] = lambda path: filmstrip(np.repeat(snaps[:1], len(snaps), 0), snaps, path)
    result["seconds"] = time.time() - t0
    return result


def print_table(r: dict) -> None:
    """The evaluation's result (`evaluate`) as a readable table."""
    print(f"{'horizon':>8}{'PSNR dB':>10}{'tile acc':>10}{'inv acc':>10}   repeat last frame: PSNR / tile / inv")
    for hz, m in r["fidelity"].items():
        b = m["repeat_last"]
        print(f"{hz:>8}{m['psnr_db']:>10.2f}{m['tile_accuracy']:>10.3f}{m['inventory_accuracy']:>10.3f}"
              f"   {b['psnr_db']:>18.2f} / {b['tile_accuracy']:.3f} / {b['inventory_accuracy']:.3f}")
    for hz, m in r["fidelity"].items():
        light = m.get("tile_accuracy_by_light", {})
        print(f"  horizon {hz} tile acc by light: " + ", ".join(
            f"{kind} {v['model']:.3f} (repeat last {v['repeat_last']:.3f}, {v['frames']} frames)"
            for kind, v in light.items()))
    for hz, m in r["fidelity"].items():
        place = m.get("tile_accuracy_by_place", {})
        if place:
            print(f"  horizon {hz} tile acc where the prompt showed the place / not: " + ", ".join(
                f"{kind} {v['share']:.0%} of tiles: {v['model'] or 0:.3f} (repeat last {v['repeat_last'] or 0:.3f})"
                for kind, v in place.items()))
    for hz, m in r["fidelity"].items():
        shown = {n: v for n, v in m.get("view_class_share", {}).items() if max(v["real"], v["dream"]) >= 0.01}
        print(f"  horizon {hz} class share of the view, game / dream: "
              + ", ".join(f"{n} {v['real']:.1%} / {v['dream']:.1%}" for n, v in shown.items()))
    for kind, m in r["fidelity"].get("1", {}).get("tile_accuracy_after", {}).items():
        print(f"  horizon 1 after {'a move' if kind == 'move' else 'other actions'}: tile acc "
              f"{m['model']:.3f} (repeat last frame {m['repeat_last']:.3f})")
    for kind, m in r["fidelity"].get("1", {}).get("tile_accuracy_after_by_light", {}).items():
        print(f"    {kind}: {m['model']:.3f} (repeat last {m['repeat_last']:.3f}, {m['frames']} frames)")
    rw = r["reward"]
    print(f"unlock head: precision {rw['unlock_precision']:.3f}, recall {rw['unlock_recall']:.3f} "
          f"({rw['unlocks']} unlocks in {rw['frames']} frames)")
    if rw.get("achievement_named_accuracy") is not None:
        print(f"achievement named right on real unlocks: {rw['achievement_named_accuracy']:.3f}")
    print(f"termination head: precision {rw['termination_precision']:.3f}, recall {rw['termination_recall']:.3f}")
    c = r["controllability"]
    o = c.get("outcomes") or {}
    print(f"move accuracy (inverse dynamics): {c['move_accuracy']:.3f} over {c['cases']} moves"
          + (f" (view did not move: {o['none']}, moved the wrong way: {o['wrong']})" if o else ""))
    if c.get("blocked_cases"):
        print(f"blocked moves (into a tile the player cannot enter, or in sleep) that kept the view still: "
              f"{c['blocked_still']:.3f} over {c['blocked_cases']}"
              + "".join(f"; {why} {v['kept_still']:.3f} over {v['cases']}"
                        for why, v in c.get("blocked_by_cause", {}).items() if v["cases"]))
    if c.get("ambiguous"):
        print(f"moves left out where a step looks like standing still (uniform view): {c['ambiguous']}")
    cu = r["context_use"]

    def fmt(d):
        return " / ".join("-" if d[key] is None else f"{d[key]:.4f}" for key in ("all", "moves", "other"))

    print(f"next latent from context at sigma {cu['sigma']:g} ({cu['windows']} windows), MSE all / moves / other: "
          f"model {fmt(cu['model_mse'])}, repeat last {fmt(cu['repeat_last_mse'])}")
    fs = r.get("fresh_strips")
    if fs and fs["moves"]:
        shown = {n: v for n, v in fs["share"].items() if max(v["real"], v["dream"]) >= 0.01}
        print(f"strip a move brings into view ({fs['moves']} moves, {fs['tiles']} tiles; tile acc "
              f"{fs['tile_accuracy']:.3f}), class share game / dream: "
              + ", ".join(f"{n} {v['real']:.1%} / {v['dream']:.1%}" for n, v in shown.items()))
    if "stability" in r:
        print("stability:", ", ".join(f"{p['step']}: {p['validity']:.3f}/{p['frame_change']:.1f}/{p['daylight']:.2f}"
                                      f"/{p['tile_kinds']:.1f}" for p in r["stability"]),
              f"(step: validity/mean frame change/daylight/tile kinds per view; real frames: "
              f"{r['real_tile_kinds']:.1f} tile kinds)")


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="worldenv/worlds/crafter72", help="world folder (default: the shipped one)")
    p.add_argument("--data", required=True, help="held-out recordings folder (soraworld-collect's format)")
    p.add_argument("--out", default="runs/eval")
    p.add_argument("--starts", type=int, default=16,
                   help="teacher-forced starts: one per episode, or several each when the folder has fewer episodes")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--steps", type=int, default=2, help="denoising steps per frame")
    p.add_argument("--stability-steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--reward-frames", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-sigma", type=float, default=None,
                   help="noise on cached frames (default: the world's stored setting)")
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None,
                   help="re-encode each dreamed frame from its pixels before it enters the context")
    p.add_argument("--guidance", type=float, default=None,
                   help="action guidance scale (default: the world's stored setting)")
    p.add_argument("--start-sigma", type=float, default=None,
                   help="noise level sampling starts from, on the previous frame moved with the view "
                        "(1 = from pure noise; default: the world's stored setting)")
    p.add_argument("--move-gate", action=argparse.BooleanOptionalAction, default=True,
                   help="use the world's MoveGate, if it has one (--no-move-gate: every move moves the view)")
    p.add_argument("--fresh-steps", type=int, default=None,
                   help="of --steps, how many draw the cells without a guess (inventory, new strip) from pure "
                        "noise down to the start sigma (default: the world's stored setting)")
    p.add_argument("--rules", nargs="+", default=None, metavar="RULE",
                   help="the game's rules the teacher-forced and move dreams keep: 'game' (all the dream env keeps: "
                        "inventory, terrain, daylight), 'none', or names (Crafter: inventory, terrain, daylight, "
                        "attacks; terrain needs inventory). The fresh-strip and stability dreams keep only the clock "
                        "(daylight) of them. Default: daylight on worlds whose game has it, as the dream env shows "
                        "their nights")
    p.add_argument("--history", type=int, default=0,
                   help="teacher-forced dreams are prompted with up to this many real frames before each clip too "
                        "(the episode so far, where it is shorter): the DiT sees its window as always, the memory "
                        "of the world seen (rule terrain) and the clock (rule daylight) all of them (0: the clip only)")
    p.add_argument("--fresh-windows", type=int, default=512,
                   help="real states whose next move is dreamed for the fresh-strip class shares (0: skip)")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    try:
        rules = rules_from_flag(a.rules)
    except ValueError as e:
        p.error(str(e))
    if a.threads:
        torch.set_num_threads(a.threads)
    return evaluate(a.model, a.data, a.out, a.starts, tuple(a.horizons), a.steps, a.stability_steps, a.every,
                    a.reward_frames, a.seed, a.context_sigma, a.reground, a.guidance, start_sigma=a.start_sigma,
                    move_gate=a.move_gate, fresh_steps=a.fresh_steps, fresh_windows=a.fresh_windows,
                    rules=rules, history=a.history)
