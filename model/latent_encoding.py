"""Encode a recordings folder into a latent cache for DiT training.

    python scripts/encode_latents.py --vae runs/vae/vae.safetensors --data data/game --out data/game_latents
    python scripts/encode_latents.py ... --size 96 72   # resize the frames to the VAE's (W, H) first

`--size` defaults to the size the VAE was trained at (its checkpoint's `frame_size`, written by a
run with `--size`), else the recordings' native size. The cache's meta `frame_size` is the encoded
frames' [W, H], the size the world's start bank and its dreams have.

Writes `<out>/latents.safetensors` + `<out>/captions.jsonl` (see model/latent_cache.py). The cache
records the sizes of the action's parts (`action_nvec`, the DiT's action-token layout): the
recordings' game says them (its plugin's `action_nvec`, which the script passes in), or
`--action-nvec`; VPT recordings' 25-part layout is known here (model/vpt.py).
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from model.cli import command_line
from model.data import episode_arrays
from model.latent_cache import LatentCache
from model.recordings import RecordingError, list_episodes
from model.training import autocast, pick_device
from model.vae import VideoVAE


@torch.no_grad()
def encode_frames(vae: VideoVAE, frames: np.ndarray, batch: int = 256, bf16: bool = True) -> torch.Tensor:
    """uint8 frames (t, H, W, 3) -> normalised latents (t, c, h, w) float16, one frame at a time."""
    device = next(vae.parameters()).device
    out = []
    for i in range(0, len(frames), batch):
        with autocast(device, bf16):
            out.append(vae.encode_images(torch.from_numpy(frames[i : i + batch])).half().cpu())
    return torch.cat(out)


def action_nvec(width: int, given: Sequence[int] | None = None) -> list[int]:
    """Sizes of the action parts of recordings whose actions have `width` parts: `given` (the
    game's), checked against the width, or for VPT's 25 parts MineRL's 23 buttons + 2 camera bins."""
    if given:
        nvec = [int(n) for n in given]
        if len(nvec) != width:
            raise ValueError(f"the action space has {len(nvec)} parts {nvec}, the recordings' actions have {width}")
        return nvec
    from model.vpt import MULTIDISCRETE_NVEC

    if width == len(MULTIDISCRETE_NVEC):
        return [int(n) for n in MULTIDISCRETE_NVEC]
    raise ValueError(f"recordings whose actions have {width} part(s): name the action space's part sizes "
                     "(the game's action_nvec, e.g. --action-nvec 17 for a Discrete(17) action)")


def vae_frame_size(vae: VideoVAE) -> tuple[int, int] | None:
    """The (W, H) the VAE was trained at when its run resized the recordings (`--size`), else None."""
    size = vae.meta.get("frame_size")
    return (int(size[0]), int(size[1])) if size else None


def encode_folder(vae_path: str, data: str, out: str, max_episodes: int = 0, device: str = "auto",
                  bf16: bool = True, progress: bool = True, skip_bad: bool = True,
                  nvec: Sequence[int] | None = None, size: tuple[int, int] | None = None) -> LatentCache:
    """Encode every episode of `data` with the VAE at `vae_path`; write and return the cache. `nvec`:
    the sizes of the recordings' action parts (`action_nvec`); `size`: resize the frames to (W, H)
    first (None: the VAE's training size, `vae_frame_size`, else the recordings' own)."""
    dev = pick_device(device)
    vae = VideoVAE.load(vae_path).to(dev)
    if size is None:
        size = vae_frame_size(vae)
    if vae.cfg.temporal_factor != 1:
        raise ValueError("latent caches for the interactive DiT need a VAE with temporal_factor=1")
    episodes = list_episodes(data)[: max_episodes or None]
    parts: dict[str, list] = {k: [] for k in ("latents", "actions", "has_action", "rewards", "dones")}
    starts, lengths, captions, start, layout = [], [], [], 0, None
    for info in tqdm(episodes, desc="encode", unit="ep", disable=not progress):
        try:
            ep = episode_arrays(data, info, size=size)
        except RecordingError as e:
            if not skip_bad:
                raise
            tqdm.write(f"skipping {info.name}: {e}")
            continue
        if layout is None:  # checked on the first episode, not after encoding them all
            layout = action_nvec(ep.actions.shape[1], nvec)
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
        meta={"vae": str(vae_path), "data": str(data), "frame_size": [int(ep.frames.shape[2]), int(ep.frames.shape[1])],  # W, H
              "action_nvec": layout},
    )
    cache.save(out)
    print(f"wrote {out}: {len(starts)} episodes, {start} frames, latents {tuple(cache.latents.shape[1:])}")
    return cache


@command_line
def main(argv=None, games=None) -> None:
    """The encoder's command line. `games` (a game's name -> its plugin, whose `action_nvec` is the
    recordings' action space) is passed by `worldenv.training_cli` (`scripts/encode_latents.py`,
    `soraworld-encode-latents`); without it give `--action-nvec`, except for VPT recordings."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", required=True, help="VideoVAE checkpoint (safetensors)")
    p.add_argument("--data", required=True, help="recordings folder")
    p.add_argument("--out", required=True, help="output folder for the cache")
    p.add_argument("--max-episodes", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="resize the frames to W H (default: the VAE's training size, else native)")
    p.add_argument("--action-nvec", type=int, nargs="+", default=None,
                   help="sizes of the action's parts (default: the recordings' game's)")
    a = p.parse_args(argv)
    nvec = a.action_nvec
    if nvec is None and games is not None:
        from model.recordings import recorded_game

        try:
            nvec = games(recorded_game(a.data)).action_nvec
        except (ValueError, RecordingError):
            nvec = None  # no plugin for this game (e.g. VPT downloads): the layout is read off the actions
    encode_folder(a.vae, a.data, a.out, a.max_episodes, a.device, a.bf16, nvec=nvec,
                  size=tuple(a.size) if a.size else None)
