"""Phase 2 of the loop: the world model learns from all real data so far. The new recordings are
encoded with the world's VAE; the DiT is fine-tuned from the current world on every cache (the base
data, each earlier iteration's, the new one), the newest weighted up; its heads are re-fitted;
and the result is shipped with the current world's VAE, move gate and rollout settings.

Each step runs the project's own trainers with the loop's recipe files (`dit_recipe`,
`heads_recipe`) and the loop's overrides, exactly as their command lines would."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.loop.config import LoopConfig


def encode(world: Path, recordings: Path, out: Path) -> Path:
    """The latent cache of `recordings` with `world`'s VAE (skipped where it exists)."""
    from model.latent_encoding import encode_folder

    if (out / "latents.safetensors").exists():
        return out
    encode_folder(str(world / "vae.safetensors"), str(recordings), str(out), progress=False, nvec=(17,))
    return out


def bucket_weights(frames: list[int], recent_weight: float) -> str:
    """Each cache's share of DiT batches: its share of frames, the last (newest) one's times
    `recent_weight`, as the trainer's comma-separated --bucket-weights."""
    w = np.asarray(frames, float)
    w[-1] *= recent_weight
    return ",".join(f"{x:.6g}" for x in w / w.sum())


def cache_frames(path: Path) -> int:
    """Frames in the latent cache at `path`, read from its file's header."""
    from safetensors import safe_open

    with safe_open(str(Path(path) / "latents.safetensors"), "pt") as f:
        return int(f.get_slice("latents").get_shape()[0])


def refine_world(cfg: LoopConfig, world: Path, caches: list[Path], recordings: Path, out: Path, seed: int) -> Path:
    """Fine-tune `world` on `caches` (oldest first, the newest last) and ship the result to
    `out/world`; `recordings` (the newest) fill its start bank. Returns the new world folder."""
    from model import heads_training, world_training
    from model.rollout import WorldModel
    from model.world_export import ship
    from worldenv.games import get_game

    out.mkdir(parents=True, exist_ok=True)
    weights = bucket_weights([cache_frames(c) for c in caches], cfg.recent_weight)
    dit_out = out / "dit"
    argv = ["--config", cfg.dit_recipe, "--latents", ",".join(map(str, caches)), "--bucket-weights", weights,
            "--recordings", str(recordings), "--vae", str(world / "vae.safetensors"), "--out", str(dit_out),
            "--init", str(world / "dit.safetensors"), "--steps", str(cfg.world_steps), "--lr", str(cfg.world_lr),
            "--warmup", str(min(100, cfg.world_steps // 10)), "--export-every", str(cfg.world_steps),
            "--seed", str(seed), "--no-progress", "--threads", str(cfg.threads)]
    # go on with a fine-tune that was cut short; one killed before its first checkpoint starts again
    argv.append("--resume" if (dit_out / "last.safetensors").exists() else "--overwrite")
    world_training.train(world_training.parse_args(argv), games=get_game)
    heads_out = out / "heads" / "world"
    if not (heads_out / "dit.safetensors").exists():
        heads = heads_training.parse_args(
            ["--config", cfg.heads_recipe, "--world", str(dit_out / "world"), "--latents", ",".join(map(str, caches)),
             # the trainer draws --windows random windows from each cache: the loop's total is shared out
             "--heldout", "", "--out", str(heads_out), "--windows", str(max(1, cfg.heads_windows // len(caches))),
             "--epochs", str(cfg.heads_epochs), "--seed", str(seed), "--threads", str(cfg.threads), "--overwrite"])
        heads_training.fit(heads)
    settings = WorldModel.load(world).rollout_defaults  # the current world's way of dreaming
    gate = world / "move_gate.safetensors"
    return ship(str(heads_out), str(out / "world"), move_gate=str(gate) if gate.exists() else "", **settings)
