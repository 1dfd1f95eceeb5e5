"""Encode a recordings folder into a latent cache for DiT training.

    python scripts/encode_latents.py --vae runs/vae_crafter/vae.safetensors --data data/crafter \
        --out data/crafter_latents

Writes `<out>/latents.safetensors` + `<out>/captions.jsonl` (see model/latent_cache.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data import episode_arrays  # noqa: E402
from model.latent_cache import LatentCache  # noqa: E402
from model.recordings import RecordingError, list_episodes  # noqa: E402
from model.training import autocast, pick_device  # noqa: E402
from model.vae import VideoVAE  # noqa: E402


@torch.no_grad()
def encode_frames(vae: VideoVAE, frames: np.ndarray, batch: int = 256, bf16: bool = True) -> torch.Tensor:
    """uint8 frames (t, H, W, 3) -> normalised latents (t, c, h, w) float16, one frame at a time."""
    device = next(vae.parameters()).device
    out = []
    for i in range(0, len(frames), batch):
        with autocast(device, bf16):
            out.append(vae.encode_images(torch.from_numpy(frames[i : i + batch])).half().cpu())
    return torch.cat(out)


def action_nvec(width: int) -> list[int]:
    """Sizes of the action parts: Crafter's Discrete(17), or MineRL's 23 buttons + 2 camera bins."""
    if width == 1:
        return [17]
    from model.vpt import MULTIDISCRETE_NVEC

    if width != len(MULTIDISCRETE_NVEC):
        raise ValueError(f"unknown action layout with {width} parts")
    return [int(n) for n in MULTIDISCRETE_NVEC]


def encode_folder(vae_path: str, data: str, out: str, max_episodes: int = 0, device: str = "auto",
                  bf16: bool = True, progress: bool = True, skip_bad: bool = True) -> LatentCache:
    """Encode every episode of `data` with the VAE at `vae_path`; write and return the cache."""
    dev = pick_device(device)
    vae = VideoVAE.load(vae_path).to(dev)
    if vae.cfg.temporal_factor != 1:
        raise ValueError("latent caches for the interactive DiT need a VAE with temporal_factor=1")
    episodes = list_episodes(data)[: max_episodes or None]
    parts: dict[str, list] = {k: [] for k in ("latents", "actions", "has_action", "rewards", "dones")}
    starts, lengths, captions, start = [], [], [], 0
    for info in tqdm(episodes, desc="encode", unit="ep", disable=not progress):
        try:
            ep = episode_arrays(data, info)
        except RecordingError as e:
            if not skip_bad:
                raise
            tqdm.write(f"skipping {info.name}: {e}")
            continue
        parts["latents"].append(encode_frames(vae, ep.frames, bf16=bf16))
        parts["actions"].append(torch.from_numpy(ep.actions))
        parts["has_action"].append(torch.from_numpy(ep.has_action.astype(np.uint8)))
        parts["rewards"].append(torch.from_numpy(ep.rewards))
        parts["dones"].append(torch.from_numpy(ep.dones.astype(np.uint8)))
        captions += ep.captions
        starts.append(start)
        lengths.append(len(ep.frames))
        start += len(ep.frames)
    if not starts:
        raise RecordingError(f"{data}: no episode could be encoded")
    cache = LatentCache(
        **{k: torch.cat(v) for k, v in parts.items()},
        episode_starts=torch.tensor(starts), episode_lengths=torch.tensor(lengths), captions=captions,
        meta={"vae": str(vae_path), "data": str(data), "frame_size": list(ep.frames.shape[1:3]),
              "action_nvec": action_nvec(ep.actions.shape[1])},
    )
    cache.save(out)
    print(f"wrote {out}: {len(starts)} episodes, {start} frames, latents {tuple(cache.latents.shape[1:])}")
    return cache


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", required=True, help="VideoVAE checkpoint (safetensors)")
    p.add_argument("--data", required=True, help="recordings folder")
    p.add_argument("--out", required=True, help="output folder for the cache")
    p.add_argument("--max-episodes", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args(argv)
    encode_folder(a.vae, a.data, a.out, a.max_episodes, a.device, a.bf16)


if __name__ == "__main__":
    main()
