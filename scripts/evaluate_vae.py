"""Evaluate a VideoVAE on held-out recordings: PSNR, tile and inventory accuracy, speed.

    python scripts/evaluate_vae.py --vae runs/vae_crafter/vae.safetensors --data data/crafter_heldout \
        --frames 2000 --json runs/vae_crafter/eval.json

Tile accuracy parses the reconstruction and the real frame with the Crafter frame parser
(DESIGN.md, "Tile accuracy") and counts local-view tiles whose classes match. Speed is encode +
decode of batches of `--batch` frames (bf16 autocast on CPU), in ms per frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data import FrameBank  # noqa: E402
from model.metrics import psnr  # noqa: E402
from model.training import autocast, bf16_in_effect, pick_device  # noqa: E402
from model.vae import VideoVAE  # noqa: E402


@torch.no_grad()
def reconstruct(vae: VideoVAE, frames: np.ndarray, batch: int, bf16: bool) -> tuple[np.ndarray, float]:
    """Reconstructions of (n, H, W, 3) uint8 frames and the ms per frame of encode + decode."""
    device = next(vae.parameters()).device
    out, seconds = [], 0.0
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(frames[i : i + batch])
        t0 = time.perf_counter()
        with autocast(device, bf16):
            y = vae.decode_images(vae.encode_images(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        out.append(y.cpu().numpy())
    return np.concatenate(out), 1000 * seconds / len(frames)


def evaluate(vae_path: str, data: str, n_frames: int = 2000, batch: int = 256, bf16: bool = True,
             device: str = "cpu", seed: int = 0) -> dict:
    vae = VideoVAE.load(vae_path).to(pick_device(device))
    bank = FrameBank(data)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(bank), size=min(n_frames, len(bank)), replace=False)
    real = bank.frames[np.sort(idx)]
    # warm-up so one-off allocation does not count as speed
    reconstruct(vae, real[:batch], batch, bf16)
    recon, ms = reconstruct(vae, real, batch, bf16)
    from model.recordings import recorded_view
    from worldenv.games.crafter_parse import CrafterFrameParser

    h, w = real.shape[1:3]
    parser = CrafterFrameParser(size=(w, h), view=recorded_view(data))
    p_real, p_rec = parser.parse(real), parser.parse(recon)
    tile_acc = float((p_real.tiles == p_rec.tiles).mean())
    inv_acc = float((p_real.inventory == p_rec.inventory).mean())
    ps = psnr(real, recon)
    dark = p_real.daylight < 0.5
    return {
        "vae": vae_path, "data": data, "frames": int(len(real)), "size": [int(w), int(h)],
        "psnr_db": float(ps.mean()), "psnr_db_day": float(ps[~dark].mean()) if (~dark).any() else None,
        "psnr_db_night": float(ps[dark].mean()) if dark.any() else None,
        "tile_accuracy": tile_acc,
        "tile_accuracy_day": float((p_real.tiles == p_rec.tiles)[~dark].mean()) if (~dark).any() else None,
        "tile_accuracy_night": float((p_real.tiles == p_rec.tiles)[dark].mean()) if dark.any() else None,
        "inventory_accuracy": inv_acc,
        "encode_decode_ms_per_frame": ms, "batch": batch, "bf16": bf16_in_effect(pick_device(device), bf16), "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in vae.parameters()),
    }


def _fmt(*values, digits: int) -> str:
    return " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values)


def print_table(r: dict) -> None:
    rows = [
        ("frames", r["frames"]),
        ("PSNR dB (all / day / night)", _fmt(r["psnr_db"], r["psnr_db_day"], r["psnr_db_night"], digits=2)),
        ("tile accuracy (all / day / night)",
         _fmt(r["tile_accuracy"], r["tile_accuracy_day"], r["tile_accuracy_night"], digits=4)),
        ("inventory accuracy", f"{r['inventory_accuracy']:.4f}"),
        ("encode+decode ms/frame", f"{r['encode_decode_ms_per_frame']:.3f} (batch {r['batch']}, {r['threads']} threads)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", required=True)
    p.add_argument("--data", required=True, help="held-out recordings folder")
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default="", help="write the results here")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    r = evaluate(a.vae, a.data, a.frames, a.batch, a.bf16, a.device)
    print_table(r)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(r, indent=1))
        print(f"wrote {a.json}")
    return r


if __name__ == "__main__":
    main()
