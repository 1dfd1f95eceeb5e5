"""Revisit consistency, as LoopNav measures it: on the recorded loops (an out-and-back walk A→B→A,
a 360° turn on the spot; index extras `loops`), the dream starts from the real frames up to the
loop's start A and follows the loop's recorded actions; on returning to A, its frame is compared
(PSNR) with the real frame at A and with the real frames from the middle of the loop (its middle
third; the mean of those PSNRs). A dream that remembers A is closer to A. Split by whether the loop
fits in the model's context (its length ≤ DiT window - 1), where a window-only model can still see A."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from model.metrics import psnr, ssim
from model.rollout import DreamRollout
from worldenv.games.minetest.evaluation.data import Recordings, leading_actions, noop_action


def recorded_loops(rec: Recordings, max_loops: int) -> list[tuple]:
    """(episode info, loop) of the folder's finished loops (start < end within the episode), up to `max_loops`."""
    out = []
    for info in rec.episodes:
        loops = info.extra.get("loops") or []
        if not isinstance(loops, list):
            continue
        for lp in loops:
            if not isinstance(lp, dict):
                continue
            s, e = lp.get("start"), lp.get("end")
            if isinstance(s, int) and isinstance(e, int) and 0 <= s < e < rec.length(info):
                out.append((info, lp))
    return out[:max_loops]


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {"loops": 0}
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    return {"loops": len(rows), "psnr_vs_a_db": mean("psnr_vs_a_db"), "psnr_vs_mid_db": mean("psnr_vs_mid_db"),
            "ssim_vs_a": mean("ssim_vs_a"), "real_end_vs_a_db": mean("real_end_vs_a_db"),
            "closer_to_a": mean("closer_to_a"), "length_mean": mean("length")}


def revisit(world, rec: Recordings, k: int, steps: int, seed: int, roll_kw: dict, max_loops: int = 64,
            batch: int = 16) -> dict:
    """Every recorded loop dreamed through (module docstring): per loop and summarised by fit and kind."""
    loops = recorded_loops(rec, max_loops)
    groups = defaultdict(list)  # loops with the same context length dream in one batch
    for info, lp in loops:
        groups[min(k, lp["start"] + 1)].append((info, lp))
    rows = []
    for c, members in sorted(groups.items()):
        for b0 in range(0, len(members), batch):
            part = members[b0 : b0 + batch]
            ctx, lead, acts, lengths, real = [], [], [], [], []
            for info, lp in part:
                s, e = lp["start"], lp["end"]
                frames, actions = rec.load(info, first=e + 1)
                ctx.append(frames[s - c + 1 : s + 1])
                lead.append(leading_actions(actions, s - c + 1, c))
                acts.append(actions[s:e])
                lengths.append(e - s)
                real.append(frames[s : e + 1])
            n_steps = max(lengths)
            pad = np.stack([np.concatenate([a, np.repeat(noop_action()[None], n_steps - len(a), 0)]) for a in acts])
            roll = DreamRollout(world, batch=len(part), steps=steps, seed=seed + b0, **roll_kw)
            roll.reset(np.stack(ctx), np.stack(lead))
            end = [None] * len(part)
            for j in range(n_steps):
                frames = roll.step(pad[:, j]).frames
                for i, L in enumerate(lengths):
                    if j == L - 1:
                        end[i] = frames[i]
            for i, (info, lp) in enumerate(part):
                L, r = lengths[i], real[i]
                d = end[i][None]
                mid = r[max(1, L // 3) : max(2, 2 * L // 3 + 1)][: max(1, L - 1)]  # the middle third, ≥ 1 frame
                p_a = float(psnr(d, r[:1])[0])
                p_mid = float(psnr(np.repeat(d, len(mid), 0), mid).mean())
                rows.append({"episode": info.name, "kind": str(lp.get("kind", "loop")), "start": lp["start"],
                             "end": lp["end"], "length": L, "fits_context": L <= k,
                             "psnr_vs_a_db": p_a, "psnr_vs_mid_db": p_mid, "ssim_vs_a": float(ssim(d, r[:1])[0]),
                             "real_end_vs_a_db": float(psnr(r[-1:], r[:1])[0]), "closer_to_a": float(p_a > p_mid),
                             **{key: lp[key] for key in ("pos_error", "yaw_error", "pitch_error") if key in lp}})
    kinds = sorted({r["kind"] for r in rows})
    return {"context": k, "loops": len(rows), "all": _summary(rows),
            "fits_context": _summary([r for r in rows if r["fits_context"]]),
            "beyond_context": _summary([r for r in rows if not r["fits_context"]]),
            "by_kind": {kind: _summary([r for r in rows if r["kind"] == kind]) for kind in kinds},
            "per_loop": rows}
