"""Train a world's MoveGate (which moves the game refuses) or OutcomeGate (which attempts fail),
from the latent the action starts from.

    python scripts/train_move_gate.py --world worldenv/worlds/crafter72 --latents data/crafter72_latents \
        --heldout data/crafter72_heldout_latents --out runs/move_gate/move_gate.safetensors
    python scripts/train_move_gate.py --judge attempts --out runs/outcome_gate/outcome_gate.safetensors

`--judge moves`: samples are the cache's move steps (frame i, move action after it, frame i + 1 in
the same episode), labelled refused where the recordings' jsonl says the player stayed put
(`latent_cache.refused_move_frames`). The move actions come from the world's DiT
(`DiTConfig.view_moves`). `--judge attempts`: samples are the steps of every other action but the
noop (do, sleep, place, make), labelled refused where they changed nothing
(`latent_cache.outcome_labels`). Prints held-out accuracy, precision and recall of "refused"
against always guessing the majority, the mean probability of success given to attempts that
failed (a dream's chance of a false success per press) and that succeeded, writes `<out>.json`,
and saves the gate (atomically). Ship it into a world with `ship_world.py --move-gate` /
`--outcome-gate`. A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.cli import add_dataclass_flags, pop_dataclass  # noqa: E402
from model.dit import SpacetimeDiT  # noqa: E402
from model.latent_cache import (  # noqa: E402
    OUTCOME_FAILED,
    LatentCache,
    attempt_actions,
    outcome_labels,
    refused_move_frames,
)
from model.move_gate import MoveGate, MoveGateConfig, gate_loss  # noqa: E402
from model.outcome_gate import OutcomeGate  # noqa: E402
from model.training import cosine_lr  # noqa: E402


@dataclass
class TrainGateConfig:
    """Training run of a MoveGate; every field is a flag."""

    world: str = "worldenv/worlds/crafter72"  # its DiT names the move actions
    latents: str = "data/crafter72_latents"
    heldout: str = "data/crafter72_heldout_latents"
    out: str = "runs/move_gate/move_gate.safetensors"
    judge: str = "moves"  # "moves" (a MoveGate) or "attempts" (an OutcomeGate: do, sleep, place, make)
    sleep_action: int = 6  # with --judge attempts: the action that succeeds by falling asleep (-1: none)
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.01
    width: int = 64
    pos_weight: float = 1.0  # loss weight of refused samples (1 = as they come, ~15 %)
    seed: int = 0
    threads: int = 0
    progress: bool = True


def move_samples(cache: LatentCache, moves: tuple[int, ...], judge: str = "moves",
                 sleep_action: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Indices i of frames an action in `moves` starts from (its result i + 1 in the same episode)
    and the labels (bool: the game refused it). `judge` "attempts" labels by `outcome_labels`."""
    if judge == "attempts":
        refused = outcome_labels(cache, moves, None if sleep_action < 0 else sleep_action) == OUTCOME_FAILED
    else:
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
    pred, p_done = p_refused > 0.5, 1 - p_refused  # gate.refused's threshold
    tp = int((pred & labels).sum())
    majority = float((~labels).float().mean())
    out = {"samples": len(labels), "refused": int(labels.sum()), "accuracy": float((pred == labels).float().mean()),
           "precision": tp / max(1, int(pred.sum())), "recall": tp / max(1, int(labels.sum())),
           "majority_accuracy": max(majority, 1 - majority),
           # sampled outcomes (OutcomeGate.sample): the chance per press of a success the game refused
           "p_done_when_refused": float(p_done[labels].mean()) if labels.any() else 0.0,
           "p_done_when_done": float(p_done[~labels].mean()) if (~labels).any() else 0.0}
    return out


def train(cfg: TrainGateConfig) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dit, _ = SpacetimeDiT.load(Path(cfg.world) / "dit.safetensors")
    view_moves = dit.cfg.view_moves
    if not view_moves:
        raise SystemExit(f"error: {cfg.world}'s DiT has no view_moves: it does not say which actions are moves")
    moves = tuple(a for a, _, _ in view_moves)
    gate_cls = MoveGate
    if cfg.judge == "attempts":  # every action but the noop (0) and the moves
        moves = tuple(attempt_actions(dit.cfg.action_nvec[0], moves))
        gate_cls = OutcomeGate
    train_cache, held_cache = LatentCache.load(cfg.latents), LatentCache.load(cfg.heldout)
    c, h, w = train_cache.latents.shape[1:]
    if c != dit.cfg.latent_channels:
        raise SystemExit(f"error: {cfg.latents} has {c} latent channels, {cfg.world}'s DiT expects "
                         f"{dit.cfg.latent_channels}")

    def tensors(cache):
        idx, lab = move_samples(cache, moves, cfg.judge, cfg.sleep_action)
        return cache.latents[idx].float(), cache.actions[idx], torch.from_numpy(lab)

    z, act, lab = tensors(train_cache)
    zh, acth, labh = tensors(held_cache)
    print(f"{len(lab)} training moves ({lab.float().mean():.1%} refused), {len(labh)} held-out "
          f"({labh.float().mean():.1%} refused)")
    gate = gate_cls(MoveGateConfig(latent_channels=c, latent_hw=(h, w), moves=moves, width=cfg.width))
    opt = torch.optim.AdamW(gate.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(lab) + cfg.batch_size - 1) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    g = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(total=total, desc=f"train {gate_cls.KIND}", disable=not cfg.progress)
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
          f"{'recall':>7} {'p(done) refused':>16} {'p(done) done':>13}")
    for split in ("train", "heldout"):
        r = result[split]
        print(f"{split:<9} {r['samples']:>7} {r['refused']:>8} {r['accuracy']:>9.3f} "
              f"{r['majority_accuracy']:>9.3f} {r['precision']:>10.3f} {r['recall']:>7.3f} "
              f"{r['p_done_when_refused']:>16.4f} {r['p_done_when_done']:>13.3f}")
    print(f"saved {out} and {out.with_suffix('.json')}")
    return result


def parse_args(argv=None) -> TrainGateConfig:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_flags(p, TrainGateConfig)
    cfg = pop_dataclass(vars(p.parse_args(argv)), TrainGateConfig)
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise SystemExit("error: --epochs and --batch-size must be >= 1")
    if cfg.judge not in ("moves", "attempts"):
        raise SystemExit(f"error: --judge must be 'moves' or 'attempts', got {cfg.judge!r}")
    return cfg


if __name__ == "__main__":
    train(parse_args())
