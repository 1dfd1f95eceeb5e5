"""Evaluate a world model of Minetest on held-out recordings (docs/evaluation.md, "Minetest").

    soraworld-evaluate-3d --model WORLD --data data/minetest_heldout --idm-data data/minetest --out runs/eval_3d

- fidelity: teacher-forced PSNR / SSIM at horizons 1, 8, 32, 128 next to "repeat the last frame",
  "shift the last frame by the camera" and "repeat it through the world's VAE" (the best copy a latent
  model can make), split by the step (camera turned, player walked, neither);
- action_control: an inverse-dynamics model's accuracy on real and on dreamed pairs (`--idm` loads
  one, else `--idm-steps` trains one on `--idm-data` and saves it to `<out>/idm.safetensors`);
- revisit: on the recorded loops, the dream's frame back at A against the real A and mid-loop frames;
- stability: a `--stability-steps` dream's frame statistics every `--every` steps against the real data's.
Prints a table, writes `<out>/eval_3d.json` and filmstrips, each through a temporary name, after
every measure is done (eval_3d.json last).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from model.cli import command_line
from model.rollout import WorldModel
from worldenv.games.minetest.evaluation.baselines import through_vae
from worldenv.games.minetest.evaluation.data import (
    STEP_KINDS,
    VERTICAL_FOV,
    Recordings,
    check_world_actions,
    draw_windows,
    horizontal_fov,
    leading_actions,
    load_windows,
    step_kinds,
)
from worldenv.games.minetest.evaluation.fidelity import METHODS, PSNR_CAP_DB, dream_windows, fidelity
from worldenv.games.minetest.evaluation.idm import (
    HEADS,
    action_control,
    load_idm,
    real_pairs,
    save_idm,
    train_idm,
)
from worldenv.games.minetest.evaluation.revisit import revisit
from worldenv.games.minetest.evaluation.stability import (
    POLICIES,
    frame_stats,
    random_walk,
    recorded_actions,
    stability,
)
from worldenv.media import filmstrip, side_by_side_video, write_outputs
from worldenv.worlds import world_path

MEASURES = ("fidelity", "action_control", "revisit", "stability")
OUT_JSON = "eval_3d.json"
FILM_ACTIONS = 64  # recorded actions in the real-vs-dream filmstrip and video


def evaluate(model: str, data: str, out: str, starts: int = 16, horizons=(1, 8, 32, 128), steps: int = 2,
             measures=MEASURES, idm: str | None = None, idm_data: str | None = None, idm_steps: int = 3000,
             idm_frames: int = 30_000, idm_horizon: int = 16, heldout_frames: int = 10_000, loops: int = 64,
             stability_steps: int = 5000,
             every: int = 500, stability_policy: str = "recorded", camera_threshold: float = 0.5,
             vertical_fov: float = VERTICAL_FOV, seed: int = 0, batch: int = 16, stability_start: int = 0,
             **rollout) -> dict:
    """Every measure in `measures` on the world `model` (a folder or a shipped world's name) and the
    held-out recordings `data`; writes `<out>/eval_3d.json` and the pictures, prints the table."""
    t0 = time.time()
    if not Path(data).is_dir():
        raise FileNotFoundError(f"--data {data}: no such folder of held-out recordings")
    unknown = set(measures) - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measures {sorted(unknown)}; choose from {list(MEASURES)}")
    if not 0 <= stability_start < 8:
        raise ValueError(f"--stability-start picks one of the first 8 held-out episodes (0-7), got {stability_start}")
    if stability_policy not in POLICIES:
        raise ValueError(f"stability policy must be one of {POLICIES}, got {stability_policy!r}")
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be >= 1, got {list(horizons)}")
    world = WorldModel.load(world_path(model))
    check_world_actions(world)
    h, w = world.frame_shape[:2]
    size, hfov = (w, h), horizontal_fov(w, h, vertical_fov)
    k = world.dit.cfg.window - 1
    roll_kw = {**world.rollout_defaults, **{key: v for key, v in rollout.items() if v is not None}}
    rec = Recordings(data, size)
    net = None
    if "action_control" in measures:  # the IDM first: a missing or mismatched one fails before any dream
        if idm:
            net, meta = load_idm(idm, size)
            idm_info = {"loaded": str(idm), **{key: meta[key] for key in ("trained_on", "steps") if key in meta}}
        elif not idm_data:
            raise ValueError("action control needs an IDM: --idm PATH, or --idm-data FOLDER (training recordings) "
                             "to train one; or leave it out with --measures")
        elif not Path(idm_data).is_dir():
            raise FileNotFoundError(f"--idm-data {idm_data}: no such folder of training recordings")
    result = {"model": str(model), "data": str(data), "frame_size": [w, h], "context": k, "denoise_steps": steps,
              "horizontal_fov": hfov, "vertical_fov": vertical_fov, "camera_threshold_deg": camera_threshold,
              "psnr_cap_db": PSNR_CAP_DB,
              **roll_kw}
    pending: dict[str, Callable[[Path], None]] = {}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)

    need_windows = "fidelity" in measures or "action_control" in measures
    if need_windows:
        longest = max(max(horizons), idm_horizon if "action_control" in measures else 1)
        windows = draw_windows(rec, k + longest, starts, seed)
        clips, acts, lead = load_windows(rec, windows, k, k + longest)
        dream = dream_windows(world, clips, acts, lead, k, longest, steps, seed, roll_kw, batch)
        result["starts"] = len(clips)
        # the README's picture: real and dream over the same FILM_ACTIONS recorded actions, in the
        # window whose actions moved the player or the camera most often
        n_film = min(FILM_ACTIONS, dream.shape[1])
        busy = (step_kinds(acts[:, k - 1 : k - 1 + n_film], camera_threshold) != STEP_KINDS.index("neither")).sum(1)
        film = int(np.argmax(busy))
        gap = max(1, n_film // 8)
        result["film"] = {"window": film, "actions": n_film, "every": gap, "moving_steps": int(busy[film])}
        pending["real_vs_dream.png"] = lambda p: filmstrip(clips[film, k - 1 + gap : k + n_film : gap],
                                                           dream[film, gap - 1 : n_film : gap], p)
        pending["real_vs_dream.mp4"] = lambda p: side_by_side_video(clips[film, k : k + n_film], dream[film, :n_film],
                                                                    p, fps=20)
    if "fidelity" in measures:
        result["fidelity"] = fidelity(clips, acts, dream, k, horizons, hfov, vertical_fov, camera_threshold,
                                      through_vae(world, clips[:, k - 1]))
    if "action_control" in measures:
        if net is None:
            net, info = train_idm(idm_data, size, idm_steps, seed, idm_frames, log_every=max(idm_steps // 10, 1))
            save_idm(out_dir / "idm.safetensors", net, **info)  # kept for --idm even if a later measure fails
            idm_info = {**info, "saved": str(out_dir / "idm.safetensors")}
        result["idm"] = idm_info
        result["action_control"] = action_control(net, clips, acts, dream, k, idm_horizon,
                                                  heldout=real_pairs(rec, heldout_frames))
    if "revisit" in measures:
        result["revisit"] = revisit(world, rec, k, steps, seed, roll_kw, loops, batch)
    if "stability" in measures and stability_steps > 0:
        eps = [rec.load(info, first=min(rec.length(info), 2000)) for info in rec.episodes[:8]]
        result["real_frame_stats"] = frame_stats(np.concatenate([f[:: max(1, len(f) // 250)] for f, _ in eps]))
        result["real_frame_stats"]["frame_change"] = float(np.mean([frame_stats(f)["frame_change"] for f, _ in eps]))
        if stability_start >= len(eps):
            raise ValueError(f"{data}: --stability-start {stability_start}, but it holds {len(eps)} episodes")
        eps_from = eps[stability_start:] + eps[:stability_start]  # the start's episode, then the others' actions
        f0, a0 = eps_from[0]
        if len(f0) < k:
            raise ValueError(f"{data}: episode {stability_start} has fewer than the {k} frames a dream starts from")
        policy = (recorded_actions([a[k - 1 :] for _, a in eps_from]) if stability_policy == "recorded"
                  else random_walk(seed))
        points, snaps = stability(world, f0[:k], leading_actions(a0, 0, k), policy, stability_steps, every, steps,
                                  seed, roll_kw)
        real = result["real_frame_stats"]
        result["stability"] = {"policy": stability_policy, "start": stability_start, "steps": stability_steps, "every": every,
                               "points": points,
                               "collapsed": bool(any(p["std"] < 0.3 * real["std"] for p in points)),
                               "collapse_rule": "a point's frame std below 0.3x the real frames'"}
        real_frames = np.concatenate([f for f, _ in eps_from])
        real_row = real_frames[np.linspace(0, len(real_frames) - 1, len(snaps)).astype(int)]
        pending["stability_filmstrip.png"] = lambda p: filmstrip(real_row, snaps, p)
    result["seconds"] = round(time.time() - t0, 1)
    pending[OUT_JSON] = lambda p: p.write_text(json.dumps(result, indent=1))
    write_outputs(out_dir, pending, last=OUT_JSON)
    print_table(result)
    print(f"wrote {', '.join(str(out_dir / name) for name in pending)}")
    return result


def _f(v, fmt=".2f") -> str:
    return "-" if v is None else format(v, fmt)


def print_table(r: dict) -> None:
    if "fidelity" in r:
        print(f"{'horizon':>8} {'step':>8} {'n':>4}  " + "  ".join(f"{m + ' PSNR/SSIM':>24}" for m in METHODS))
        print("(repeat_last_vae: the last frame through the world's VAE, the best copy a latent model can make)")
        for hz, m in r["fidelity"].items():
            rows = [("all", m["windows"], m)] + [(kind, v["windows"], v) for kind, v in m["by_step"].items()]
            for kind, n, v in rows:
                print(f"{hz:>8} {kind:>8} {n:>4}  " + "  ".join(
                    f"{_f(v[meth]['psnr_db']):>15} / {_f(v[meth]['ssim'], '.3f'):>6}" for meth in METHODS))
    if "action_control" in r:
        a = r["action_control"]
        print(f"IDM accuracy ({a['pairs']} pairs, first {a['horizon']} steps): head real / dream (ratio, majority share)")
        for name in HEADS:
            print(f"  {name:>12}: {_f(a['real'][name]['accuracy'], '.3f')} / {_f(a['dream'][name]['accuracy'], '.3f')}"
                  f" ({_f(a['dream_over_real'][name], '.2f')}, {a['real'][name]['majority_share']:.3f})"
                  + (f"; all held-out real pairs {_f(a['real_heldout_all'][name]['accuracy'], '.3f')}"
                     if "real_heldout_all" in a else ""))
    if "revisit" in r:
        v = r["revisit"]
        for part in ("fits_context", "beyond_context"):
            s = v[part]
            if s["loops"]:
                print(f"revisit {part} ({s['loops']} loops, mean length {s['length_mean']:.0f}): dream at A vs real A "
                      f"{s['psnr_vs_a_db']:.2f} dB, vs mid-loop {s['psnr_vs_mid_db']:.2f} dB, closer to A "
                      f"{s['closer_to_a']:.0%} (real end vs A {s['real_end_vs_a_db']:.2f} dB)")
            else:
                print(f"revisit {part}: no loops")
    if "stability" in r:
        s, real = r["stability"], r["real_frame_stats"]
        print(f"stability ({s['policy']}; step: mean/std/frame change; real {real['mean']:.1f}/{real['std']:.1f}/"
              f"{real['frame_change']:.2f}): " + ", ".join(
                  f"{p['step']}: {p['mean']:.1f}/{p['std']:.1f}/{p['frame_change']:.2f}" for p in s["points"])
              + ("  COLLAPSED" if s["collapsed"] else ""))


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minetest", help="world folder or shipped world's name (default: minetest)")
    p.add_argument("--data", required=True, help="held-out Minetest recordings (map seeds never trained on)")
    p.add_argument("--out", default="runs/eval_3d")
    p.add_argument("--measures", nargs="+", default=list(MEASURES), choices=MEASURES)
    p.add_argument("--starts", type=int, default=16, help="teacher-forced windows")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--steps", type=int, default=2, help="denoising steps per frame")
    p.add_argument("--camera-threshold", type=float, default=0.5,
                   help="degrees of |pitch| or |yaw| above which a step counts as a camera turn")
    p.add_argument("--vertical-fov", type=float, default=VERTICAL_FOV, help="the game's (vertical) fov in degrees")
    p.add_argument("--idm", default=None, help="a saved IDM (idm.safetensors) to use")
    p.add_argument("--idm-data", default=None, help="training recordings to train the IDM on (without --idm)")
    p.add_argument("--idm-steps", type=int, default=3000)
    p.add_argument("--idm-frames", type=int, default=30_000, help="frames of --idm-data the IDM trains on at most")
    p.add_argument("--heldout-frames", type=int, default=10_000,
                   help="frames of --data whose every pair the IDM is also scored on (real_heldout_all)")
    p.add_argument("--idm-horizon", type=int, default=16, help="dreamed steps per window scored by the IDM")
    p.add_argument("--loops", type=int, default=64, help="recorded loops dreamed at most")
    p.add_argument("--stability-steps", type=int, default=5000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--stability-policy", choices=POLICIES, default="recorded")
    p.add_argument("--stability-start", type=int, default=0,
                   help="which of the first 8 held-out episodes the stability dream starts from")
    p.add_argument("--batch", type=int, default=16, help="dreams stepped together")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-sigma", type=float, default=None)
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--start-sigma", type=float, default=None)
    p.add_argument("--fresh-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    return evaluate(a.model, a.data, a.out, a.starts, tuple(a.horizons), a.steps, tuple(a.measures), a.idm,
                    a.idm_data, a.idm_steps, a.idm_frames, a.idm_horizon, a.heldout_frames, a.loops, a.stability_steps, a.every,
                    a.stability_policy, a.camera_threshold, a.vertical_fov, a.seed, a.batch, a.stability_start,
                    context_sigma=a.context_sigma, reground=a.reground, guidance=a.guidance,
                    start_sigma=a.start_sigma, fresh_steps=a.fresh_steps)
