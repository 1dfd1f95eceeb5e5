"""Train a world's MoveGate (which moves the game refuses) from the latent the move starts from.

    python scripts/train_move_gate.py --world runs/heads/world --latents data/game_latents \
        --heldout data/game_heldout_latents --out runs/move_gate/move_gate.safetensors
    python scripts/train_move_gate.py --config configs/<world>/move_gate.toml   # a shipped world's gate

Samples are the cache's move steps (frame i, move action after it, frame i + 1 in the same
episode), labelled refused where the recordings' jsonl says the player stayed put
(`latent_cache.refused_move_frames`). The move actions come from the world's DiT
(`DiTConfig.view_moves`). Prints held-out accuracy, precision and recall of "refused" against
always guessing the majority, writes `<out>.json`, and saves the gate (atomically). Ship it into a
world with `ship_world.py --move-gate`. A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.checkpoint import clean_temporary_files
from model.cli import command_line, parse_config
from model.dit import SpacetimeDiT
from model.latent_cache import LatentCache, refused_move_frames
from model.move_gate import MoveGate, MoveGateConfig, gate_loss
from model.training import cosine_lr


@dataclass
class TrainGateConfig:
    """Training run of a MoveGate; every field is a flag and a key of a `--config` recipe."""

    world: str = ""  # its DiT names the move actions
    latents: str = ""
    heldout: str = ""
    out: str = "runs/move_gate/move_gate.safetensors"
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.01
    width: int = 64
    pos_weight: float = 1.0  # loss weight of refused samples (1 = as they come, e.g. ~15 %)
    seed: int = 0
    threads: int = 0
    progress: bool = True
    overwrite: bool = False  # replace a gate already at --out (without it, an existing --out is refused)


def move_samples(cache: LatentCache, moves: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Indices i of frames an action in `moves` starts from (its result i + 1 in the same episode)
    and the labels (bool: the game refused it)."""
    refused = refused_move_frames(cache, moves, records=None)
    first = cache.actions[:, 0].numpy()
    has = cache.has_action.numpy().astype(bool)
    last = np.zeros(len(cache), bool)
    last[(cache.episode_starts + cache.episode_lengths - 1).numpy()] = True
    idx = np.flatnonzero(has & ~last & np.isin(first, moves))
    return idx, refused[idx + 1]


def evaluate(gate: MoveGate, z: torch.Tensor, actions: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy, precision and recall of "refused" on (z, actions, labels)."""
    with torch.no_grad():
        p_refused = torch.sigmoid(torch.cat([gate(z[i:i + 1024], actions[i:i + 1024])
                                             for i in range(0, len(z), 1024)]))
    pred = p_refused > 0.5  # gate.refused's threshold
    tp = int((pred & labels).sum())
    majority = float((~labels).float().mean())
    return {"samples": len(labels), "refused": int(labels.sum()), "accuracy": float((pred == labels).float().mean()),
            "precision": tp / max(1, int(pred.sum())), "recall": tp / max(1, int(labels.sum())),
            "majority_accuracy": max(majority, 1 - majority)}


def train(cfg: TrainGateConfig) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dit, _ = SpacetimeDiT.load(Path(cfg.world) / "dit.safetensors")
    view_moves = dit.cfg.view_moves
    if not view_moves:
        raise SystemExit(f"error: {cfg.world}'s DiT has no view_moves: it does not say which actions are moves")
    moves = tuple(a for a, _, _ in view_moves)
    if Path(cfg.out).exists() and not cfg.overwrite:
        raise SystemExit(f"error: {cfg.out} already exists (a trained gate): add --overwrite to replace it, or "
                         "choose another --out")
    clean_temporary_files(Path(cfg.out).parent, (Path(cfg.out).name, Path(cfg.out).with_suffix(".json").name))
    train_cache, held_cache = LatentCache.load(cfg.latents), LatentCache.load(cfg.heldout)
    c, h, w = train_cache.latents.shape[1:]
    if c != dit.cfg.latent_channels:
        raise SystemExit(f"error: {cfg.latents} has {c} latent channels, {cfg.world}'s DiT expects "
                         f"{dit.cfg.latent_channels}")

    def tensors(cache):
        idx, lab = move_samples(cache, moves)
        return cache.latents[idx].float(), cache.actions[idx], torch.from_numpy(lab)

    z, act, lab = tensors(train_cache)
    zh, acth, labh = tensors(held_cache)
    print(f"{len(lab)} training moves ({lab.float().mean():.1%} refused), {len(labh)} held-out "
          f"({labh.float().mean():.1%} refused)")
    gate = MoveGate(MoveGateConfig(latent_channels=c, latent_hw=(h, w), moves=moves, width=cfg.width))
    opt = torch.optim.AdamW(gate.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(lab) + cfg.batch_size - 1) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    g = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(total=total, desc=f"train {MoveGate.KIND}", disable=not cfg.progress)
    step = 0
    for _ in range(cfg.epochs):
        gate.train()
        for batch in torch.randperm(len(lab), generator=g).split(cfg.batch_size):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, cfg.lr, 100, total)
            loss = gate_loss(gate, z[batch], act[batch], lab[batch], cfg.pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
        gate.eval()
    bar.close()
    result = {"config": asdict(cfg), "train": evaluate(gate, z, act, lab), "heldout": evaluate(gate, zh, acth, labh)}
    out = Path(cfg.out)
    gate.save(out, trained_on=cfg.latents, heldout=result["heldout"])
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    print(f"{'split':<9} {'samples':>7} {'refused':>8} {'accuracy':>9} {'majority':>9} {'precision':>10} "
          f"{'recall':>7}")
    for split in ("train", "heldout"):
        r = result[split]
        print(f"{split:<9} {r['samples']:>7} {r['refused']:>8} {r['accuracy']:>9.3f} "
              f"{r['majority_accuracy']:>9.3f} {r['precision']:>10.3f} {r['recall']:>7.3f}")
    print(f"saved {out} and {out.with_suffix('.json')}")
    return result


def parse_args(argv=None) -> TrainGateConfig:
    cfg = parse_config(__doc__, TrainGateConfig, argv)
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise SystemExit("error: --epochs and --batch-size must be >= 1")
    for name in ("world", "latents", "heldout"):
        if not getattr(cfg, name):
            raise SystemExit(f"error: give --{name} (or a --config recipe that sets it)")
    return cfg


@command_line
def main(argv=None) -> None:
    """`soraworld-train-move-gate` / `scripts/train_move_gate.py`."""
    train(parse_args(argv))
