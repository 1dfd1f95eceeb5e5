"""Compare VAEs trained at different frame sizes (`train_vae.py --size W H`) on the same held-out
recordings: PSNR in each size's own pixels and at the recordings' native size (the reconstruction
scaled back up, next to the resize alone: the most that size can reach), encode+decode ms per frame
(batches of `--batch`), the decode of one frame (batch 1: what a dream step pays), the latent shape
and the DiT's tokens per frame at each patch size. Prints a table, writes JSON.

    python scripts/compare_vae_sizes.py --vae runs/vae_size_64x48/vae.safetensors \\
        runs/vae_size_96x72/vae.safetensors --data data/minetest_heldout --frames 1000 --batch 64 \\
        --threads 1 --json results/minetest/vae_size.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from model.cli import command_line
from model.vae_evaluation import evaluate


def training_record(vae_path: str) -> dict:
    """Steps and seconds of the run that wrote `vae_path` (its folder's log.csv), where there is one."""
    log = Path(vae_path).parent / "log.csv"
    if not log.exists():
        return {}
    rows = list(csv.DictReader(log.open()))
    if not rows:
        return {}
    last = rows[-1]
    return {"train_steps": int(last["step"]), "train_seconds": float(last["time"]),
            "train_psnr_db_last": float(last["psnr"])}


@torch.no_grad()
def decode_ms_batch1(vae_path: str, size: tuple[int, int], bf16: bool, n: int = 50) -> float:
    """Median ms of decoding one latent frame (what a batch-1 dream step pays once per frame)."""
    import time

    from model.training import autocast
    from model.vae import SPATIAL_FACTOR, VideoVAE

    vae = VideoVAE.load(vae_path)
    z = torch.randn(1, vae.cfg.latent_channels, size[1] // SPATIAL_FACTOR, size[0] // SPATIAL_FACTOR)
    times = []
    for i in range(n + 5):
        t0 = time.perf_counter()
        with autocast(torch.device("cpu"), bf16):
            vae.decode_images(z)
        if i >= 5:  # warm-up first
            times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


@command_line
def main(argv=None) -> dict:
    """`scripts/compare_vae_sizes.py`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", nargs="+", required=True, help="VAEs trained with --size (each evaluated at its size)")
    p.add_argument("--data", required=True, help="held-out recordings folder")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--json", default="")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    for path in a.vae:
        r = evaluate(path, a.data, None, a.frames, a.batch, a.bf16, "cpu", move_pairs_n=0)
        c, lh, lw = r["latent"]
        r["dit_tokens_per_frame"] = {f"patch{q}": (lh // q) * (lw // q) for q in (1, 2, 3) if lh % q == 0 and lw % q == 0}
        r["decode_ms_batch1"] = decode_ms_batch1(path, r["size"], a.bf16)
        r.update(training_record(path))
        rows.append(r)
    head = ["size", "latent", "PSNR own", "PSNR@native", "resize only", "enc+dec ms", "dec ms b1", "tokens/frame", "train s"]
    table = [[f"{r['size'][0]}x{r['size'][1]}", "x".join(map(str, r["latent"])), f"{r['psnr_db']:.2f}",
              f"{r['native']['psnr_db']:.2f}" if r["native"] else "-",
              f"{r['native']['psnr_db_resize_only']:.2f}" if r["native"] else "-",
              f"{r['encode_decode_ms_per_frame']:.2f}", f"{r['decode_ms_batch1']:.2f}",
              " ".join(f"{k}:{v}" for k, v in r["dit_tokens_per_frame"].items()),
              f"{r.get('train_seconds', 0):.0f} ({r.get('train_steps', '?')} steps)"] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))
    out = {"data": a.data, "frames": a.frames, "batch": a.batch, "threads": a.threads, "bf16": a.bf16, "results": rows}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1))
        print(f"wrote {a.json}")
    return out

