"""Train the VideoVAE on a recordings folder.

    python scripts/train_vae.py --data data/recordings --out runs/vae --steps 20000
    python scripts/train_vae.py --config configs/<world>/vae_1_base.toml   # a stage of a shipped world
    python scripts/train_vae.py --data data/recordings --out runs/vae --resume  # continue a run
    python scripts/train_vae.py --data data/recordings --out runs/vae --overwrite  # start it again
    python scripts/train_vae.py --data data/a,data/b --bucket-weights 0.7,0.3 ...
                                     # several frame sizes: each step draws one folder's size
    torchrun --nproc_per_node=2 scripts/train_vae.py ...                     # DDP (gloo/nccl)

Writes `<out>/last.safetensors` (weights + optimizer + step, every `--ckpt-every` steps,
atomically), `<out>/vae.safetensors` (weights + latent shift/scale, for use) and `<out>/log.csv`.

Loss = L1 + MSE + edge term (L1 between horizontal/vertical pixel differences, which keeps
1-pixel pixel-art edges sharp) + a small KL. An adversarial term is not used. With
`--rare-tile-weight W` the pixel terms weight each tile by the rarity of its class (up to W;
model/tile_weights.py; recordings of a tile-based game with a `tiles` map per frame), so rare
tiles are not averaged away. `--init V --decoder-only` fine-tunes the decoder of a trained VAE on
its kept encoder: the latent space, and any DiT trained on it, stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.cli import command_line, parse_nested_config
from model.data import FrameBank
from model.tile_weights import class_weights, pixel_weights
from model.training import (
    CsvLogger,
    autocast,
    bucket_probabilities,
    check_run_folder,
    cleanup_distributed,
    cosine_lr,
    pick_bucket,
    resume_settings,
    resume_state,
    run_end,
    save_training_state,
    setup_distributed,
    split_sources,
    wrap_for_training,
)
from model.vae import SPATIAL_FACTOR, VAEConfig, VideoVAE, frames_to_tensor

KIND = "VideoVAE"


@dataclass
class TrainVAEConfig:
    """Training run of the VideoVAE; every field is a flag (`--batch-size` for `batch_size`) and a
    key of a `--config` recipe (the `vae` fields in its [vae] table)."""

    data: str = ""  # one recordings folder, or several (comma-separated) of other sizes
    bucket_weights: str = ""  # comma-separated share of steps per folder; empty = by frame count
    out: str = "runs/vae"
    steps: int = 20_000
    stop_at: int = 0  # end this run at this step (0 = at --steps); the lr schedule still spans --steps
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.0
    groups: int = 2  # latent frames per training clip when temporal_factor > 1 (clip = 1 + groups*tf)
    kl_weight: float = 1e-6
    # >= 1: weight each local-view tile's pixels by how rare its class is, up to this factor
    # (model/tile_weights.py; needs recordings with the jsonl `tiles` map); 0 = plain pixel loss
    rare_tile_weight: float = 0.0
    mse_weight: float = 1.0
    edge_weight: float = 1.0
    ckpt_every: int = 500
    log_every: int = 50
    max_frames: int = 0  # 0 = all frames of the folder
    # resize the recordings' frames to this (W, H) on load (`--size W H`); None = their native size
    size: tuple[int, int] | None = None
    seed: int = 0
    bf16: bool = True
    compile: bool = False
    device: str = "auto"
    threads: int = 0
    resume: bool = False  # go on with the run in --out (its last.safetensors)
    overwrite: bool = False  # start again in an --out that holds a run (without it, such a folder is refused)
    init: str = ""  # start from this trained VideoVAE's weights (its config is used)
    decoder_only: bool = False  # train only the decoder: the latent space (and any DiT on it) stays valid
    # with --init: keep the init's latent shift/scale, so a DiT trained on its latents stays in range
    keep_latent_stats: bool = False
    progress: bool = True
    vae: VAEConfig = field(default_factory=VAEConfig)


def vae_loss(vae: VideoVAE, x: torch.Tensor, cfg: TrainVAEConfig,
             weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Reconstruction + edge + KL loss of frames x (b, t, 3, H, W) in [-1, 1]; `weight`
    (b, t, 1, H, W) weights the pixels of the reconstruction and edge terms (None = uniform)."""
    mean, logvar = vae.moments(x)
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
    y = vae.decode_raw(z).float()
    w = torch.ones_like(x[:, :, :1]) if weight is None else weight
    mse = ((y - x) ** 2).mean()  # unweighted, in RGB: it gives the logged PSNR

    def wmean(err, wt):
        return (err * wt).mean() / wt.mean()

    l1 = wmean((y - x).abs(), w)
    wmse = wmean((y - x) ** 2, w)
    edge = (wmean((y.diff(dim=-1) - x.diff(dim=-1)).abs(), w[..., 1:])
            + wmean((y.diff(dim=-2) - x.diff(dim=-2)).abs(), w[..., 1:, :]))
    kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean()
    loss = l1 + cfg.mse_weight * wmse + cfg.edge_weight * edge + cfg.kl_weight * kl
    psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))  # range [-1, 1] -> peak^2 = 4
    return loss, {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "edge": edge.item(),
                  "kl": kl.item(), "psnr": psnr.item()}


class VAELoss(torch.nn.Module):
    """The VAE with its loss as forward(), so DDP can wrap it and sync gradients."""

    def __init__(self, vae: VideoVAE, cfg: TrainVAEConfig):
        super().__init__()
        self.vae, self.cfg = vae, cfg

    def forward(self, x, weight=None):
        return vae_loss(self.vae, x, self.cfg, weight)


@torch.no_grad()
def latent_stats(vae: VideoVAE, bank: FrameBank, clip_len: int, rng, n: int = 512, bf16: bool = True):
    """Per-channel mean/std of the unnormalised latents on `n` clips."""
    device = next(vae.parameters()).device
    zs = []
    for i in range(0, n, 64):
        x = frames_to_tensor(bank.sample_clips(rng, min(64, n - i), clip_len)).to(device)
        with autocast(device, bf16):
            zs.append(vae.moments(x)[0].float())
    z = torch.cat(zs).transpose(0, 2).flatten(1)  # c, everything
    return z.mean(1), z.std(1).clamp_min(1e-4)


def check_config(cfg: TrainVAEConfig) -> None:
    """SystemExit naming the flags that do not go together."""
    if not cfg.data.strip(", "):
        raise SystemExit("error: --data names no recordings folder")
    if cfg.keep_latent_stats and not cfg.init:
        raise SystemExit("error: --keep-latent-stats keeps those of --init; give --init")
    if cfg.decoder_only and not cfg.init:
        raise SystemExit("error: --decoder-only needs --init (the VAE whose latent space to keep)")
    if cfg.size is not None and (len(cfg.size) != 2 or min(cfg.size) < 1 or any(v % SPATIAL_FACTOR for v in cfg.size)):
        raise SystemExit(f"error: --size is W H, each a multiple of {SPATIAL_FACTOR} (the VAE's spatial factor), "
                         f"got {' '.join(map(str, cfg.size))}")
    if cfg.rare_tile_weight and cfg.rare_tile_weight < 1:
        raise SystemExit(f"error: --rare-tile-weight is a weight cap >= 1 (0 = off), got {cfg.rare_tile_weight}")


RUN_FILES = ("last.safetensors", "vae.safetensors", "log.csv")  # what a run writes in --out


def train(cfg: TrainVAEConfig) -> Path:
    check_config(cfg)
    check_run_folder(cfg.out, cfg.resume, cfg.overwrite, RUN_FILES, "a VAE run")
    d = setup_distributed(cfg.device, cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + d.rank)
    clip_len = 1 if cfg.vae.temporal_factor == 1 else 1 + cfg.groups * cfg.vae.temporal_factor
    weighted = cfg.rare_tile_weight > 0
    banks = [FrameBank(f, cfg.max_frames, size=cfg.size, progress=cfg.progress and d.main, tiles=weighted)
             for f in split_sources(cfg.data)]
    bank_p = bucket_probabilities(cfg.bucket_weights, [len(b) for b in banks])
    # one class weighting for all folders, from the tile counts of all of them
    tile_w = class_weights(np.concatenate([b.tiles.ravel() for b in banks]), cfg.rare_tile_weight) if weighted else None
    if cfg.init:
        vae = VideoVAE.load(cfg.init)
        cfg.vae = vae.cfg
        vae = vae.train().to(d.device)
    else:
        vae = VideoVAE(cfg.vae).to(d.device)
    trained = list(vae.parameters())
    if cfg.decoder_only:
        # Encoder and latent statistics stay fixed, so latents encoded before remain valid.
        trained = vae.decoder_parameters()
        keep = {id(p) for p in trained}
        for p in vae.parameters():
            p.requires_grad_(id(p) in keep)
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    state_path = out / "last.safetensors"
    step = resume_state(state_path, vae, opt, KIND, cfg.resume, d.main, same=resume_settings(cfg))
    # A new stream per (seed, rank, start step): a resumed run does not replay the same batches.
    rng = np.random.default_rng([cfg.seed, d.rank, step])
    model = wrap_for_training(VAELoss(vae, cfg), d, cfg.compile)
    log = CsvLogger(out / "log.csv", enabled=d.main)
    end = run_end(cfg.steps, cfg.stop_at)
    bar = tqdm(total=end, initial=step, desc="train vae", disable=not (cfg.progress and d.main))
    per_rank = max(1, cfg.batch_size // d.world)
    while step < end:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps)
        bank = banks[pick_bucket(cfg.seed, step, bank_p)]
        starts = bank.sample_starts(rng, per_rank, clip_len)
        x = frames_to_tensor(bank.clips(starts, clip_len)).to(d.device)
        weight = None
        if weighted:  # (b, t, 1, H, W) from the tile maps of the clips' frames
            idx = (starts[:, None] + np.arange(clip_len)[None]).ravel()  # every frame of each clip
            H, W = x.shape[-2:]
            pw = pixel_weights(bank.tiles[idx], tile_w, (W, H), bank.view)
            weight = torch.from_numpy(pw).reshape(len(starts), clip_len, 1, H, W).to(d.device)
        with autocast(d.device, cfg.bf16):
            loss, stats = model(x, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages gradients across ranks here
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == end:
            bar.set_postfix(loss=f"{stats['loss']:.4f}", psnr=f"{stats['psnr']:.1f}")
            log.log(step=step, lr=opt.param_groups[0]["lr"], **stats)
        if d.main and (step % cfg.ckpt_every == 0 or step == end):
            save_training_state(state_path, vae, opt, step, KIND, cfg.vae, cfg)
    bar.close()
    final = out / "vae.safetensors"
    if d.main:
        vae.eval()
        if not (cfg.decoder_only or cfg.keep_latent_stats):
            shift, scale = latent_stats(vae, banks[0], clip_len, np.random.default_rng(cfg.seed), bf16=cfg.bf16)
            vae.latent_shift.copy_(shift)
            vae.latent_scale.copy_(scale)
        vae.save(final, steps=step, data=str(cfg.data),
                 **({"frame_size": [int(v) for v in cfg.size]} if cfg.size is not None else {}))
        print(f"saved {final} ({final.stat().st_size / 1e6:.1f} MB) after {step} steps")
    cleanup_distributed()
    return final


def parse_args(argv=None) -> TrainVAEConfig:
    return parse_nested_config(__doc__, TrainVAEConfig, "vae", VAEConfig, argv)


@command_line
def main(argv=None) -> None:
    """`soraworld-train-vae` / `scripts/train_vae.py`."""
    train(parse_args(argv))
