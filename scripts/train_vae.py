"""Train the VideoVAE on a recordings folder.

    python scripts/train_vae.py --data data/crafter --out runs/vae --steps 20000
    python scripts/train_vae.py --data data/crafter --out runs/vae --resume      # continue a run
    python scripts/train_vae.py --data data/crafter,data/crafter_wide --bucket-weights 0.7,0.3 ...
                                     # several frame sizes: each step draws one folder's size
    torchrun --nproc_per_node=2 scripts/train_vae.py --data data/crafter ...      # DDP (gloo/nccl)

Writes `<out>/last.safetensors` (weights + optimizer + step, every `--ckpt-every` steps,
atomically), `<out>/vae.safetensors` (weights + latent shift/scale, for use) and `<out>/log.csv`.

Loss = L1 + MSE + edge term (L1 between horizontal/vertical pixel differences, which keeps
1-pixel pixel-art edges sharp) + a small KL. An adversarial term is not used. With
`--rare-tile-weight W` the pixel terms weight each tile by the rarity of its class (up to W;
model/tile_weights.py), so cows, tables and ores are not averaged away. With `--night-pairs P`
(Crafter), a share P of each batch is day frames re-rendered at a random night daylight
(worldenv/games/crafter/night.py): the input shows the game's per-frame grain, the target the
same frame without it, so the encoder learns to drop grain that no world model can predict.
With `--target-data` (the grain-free copies of the `--data` folders, written by
scripts/replay_grain_free.py) the target of each real night frame is that same frame replayed with
the grain at its mean: exact pairs from the game itself, day frames unchanged. With
`--night-contrast C` the pixel terms are measured on the undarkened canvas: each local-view pixel's
grey and colour errors are divided by the share of the canvas the game's night still shows there
(CrafterNight.contrast_gains, up to C times). Deep at night a corner keeps under 1 % of its colour;
the frame parser reads tiles from it, a plain pixel loss does not see it. With
`--tile-class-weight W` a tile-class loss is added (model/tile_template_loss.py): each local-view
tile of the reconstruction must be nearer a texture of its recorded class than any other texture,
lit as the game lights that frame, so a thin arrow is not smoothed into the grass under it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.cli import parse_nested_config  # noqa: E402
from model.data import FrameBank  # noqa: E402
from model.tile_template_loss import GREY_COLOUR, TileTemplateLoss  # noqa: E402
from model.tile_weights import class_weights, pixel_weights  # noqa: E402
from model.training import (  # noqa: E402
    CsvLogger,
    autocast,
    bucket_probabilities,
    cleanup_distributed,
    cosine_lr,
    pick_bucket,
    resume_state,
    run_end,
    save_training_state,
    setup_distributed,
    split_sources,
    wrap_for_training,
)
from model.vae import VAEConfig, VideoVAE, frames_to_tensor  # noqa: E402

KIND = "VideoVAE"


@dataclass
class TrainVAEConfig:
    """Training run of the VideoVAE; every field is a flag (`--batch-size` for `batch_size`)."""

    data: str = "data/crafter"  # one recordings folder, or several (comma-separated) of other sizes
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
    seed: int = 0
    bf16: bool = True
    compile: bool = False
    device: str = "auto"
    threads: int = 0
    resume: bool = False
    init: str = ""  # start from this trained VideoVAE's weights (its config is used)
    decoder_only: bool = False  # train only the decoder: the latent space (and any DiT on it) stays valid
    # with --init --decoder-only: a fresh decoder of --decoder-channels/--decoder-blocks on the
    # init's encoder, instead of fine-tuning the init's decoder
    new_decoder: bool = False
    # Share of each batch that is a synthetic night pair (grainy input, grain-free target; see the
    # module docstring). Real frames with grain (jsonl daylight < 0.5) are then not trained on.
    night_pairs: float = 0.0
    # grain-free copies of the --data folders (comma-separated, same order): the decoder's target
    # for each frame is its copy (the night without grain); empty = the frame itself
    target_data: str = ""
    # >= 1: pixel errors on the undarkened canvas, night weights up to this factor (docstring); 0 = off
    night_contrast: float = 0.0
    # > 0: weight of the tile-class loss (model/tile_template_loss.py): each reconstructed tile must be
    # nearer a texture of its recorded class than any other's, at the frame's light (needs jsonl
    # `tiles`, `daylight`, `sleeping`; with --night-contrast, in undarkened-canvas units)
    tile_class_weight: float = 0.0
    tile_class_temperature: float = 4.0  # pixel levels: the softness of the nearest-template choice
    # with --target-data: each tile's tile-class loss is only what it has over the grain-free copy's
    # (deep at night the game's own frame does not separate some templates; stop 34's runs: off)
    tile_class_vs_copy: bool = True
    # with --init: keep the init's latent shift/scale, so a DiT trained on its latents stays in range
    keep_latent_stats: bool = False
    progress: bool = True
    vae: VAEConfig = field(default_factory=VAEConfig)


def vae_loss(vae: VideoVAE, x: torch.Tensor, cfg: TrainVAEConfig, weight: torch.Tensor | None = None,
             target: torch.Tensor | None = None, canvas_factor: torch.Tensor | None = None,
             tile_class: TileTemplateLoss | None = None, light: tuple | None = None) -> tuple[torch.Tensor, dict]:
    """Reconstruction + edge + KL loss of frames x (b, t, 3, H, W) in [-1, 1]; `weight`
    (b, t, 1, H, W) weights the pixels of the reconstruction and edge terms (None = uniform);
    `target` is what the decoder should give back (None = x itself); `canvas_factor` (b, t, 3, H, W)
    scales the grey and two colour components of output and target before the pixel terms. With
    `tile_class` and `light` = (daylight, sleeping, tiles) of every frame ((b t,), (b t,),
    (b t, rows, cols)), the tile-class loss is added at weight cfg.tile_class_weight."""
    mean, logvar = vae.moments(x)
    x = x if target is None else target
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
    y = vae.decode_raw(z).float()
    w = torch.ones_like(x[:, :, :1]) if weight is None else weight
    mse = ((y - x) ** 2).mean()  # unweighted, in RGB: it gives the logged PSNR
    extra = {}
    if tile_class is not None:
        f = None if canvas_factor is None else canvas_factor.flatten(0, 1)
        # against the grain-free copy, a tile is only asked to read as well as the game's own frame
        ref = x.flatten(0, 1) if target is not None and cfg.tile_class_vs_copy else None
        ce, acc = tile_class(y.flatten(0, 1), *light, factor=f, reference=ref)
        extra = {"tile_ce": ce, "tile_acc": acc.item()}
    if canvas_factor is not None:
        # a broadcast product and sum, not einsum: autocast would run that matmul in bf16, whose
        # rounding (about a pixel level) the factors would then multiply
        basis = GREY_COLOUR.to(x.device)[None, None, :, :, None, None]  # (1, 1, k, c, 1, 1)
        y = (basis * y[:, :, None]).sum(3) * canvas_factor
        x = (basis * x[:, :, None]).sum(3) * canvas_factor

    def wmean(err, wt):
        return (err * wt).mean() / wt.mean()

    l1 = wmean((y - x).abs(), w)
    wmse = wmean((y - x) ** 2, w)
    edge = (wmean((y.diff(dim=-1) - x.diff(dim=-1)).abs(), w[..., 1:])
            + wmean((y.diff(dim=-2) - x.diff(dim=-2)).abs(), w[..., 1:, :]))
    kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean()
    loss = l1 + cfg.mse_weight * wmse + cfg.edge_weight * edge + cfg.kl_weight * kl
    if extra:
        loss = loss + cfg.tile_class_weight * extra["tile_ce"]
        extra["tile_ce"] = extra["tile_ce"].item()
    psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))  # range [-1, 1] -> peak^2 = 4
    return loss, {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "edge": edge.item(),
                  "kl": kl.item(), "psnr": psnr.item(), **extra}


class VAELoss(torch.nn.Module):
    """The VAE with its loss as forward(), so DDP can wrap it and sync gradients."""

    def __init__(self, vae: VideoVAE, cfg: TrainVAEConfig, tile_class: TileTemplateLoss | None = None):
        super().__init__()
        self.vae, self.cfg, self.tile_class = vae, cfg, tile_class

    def forward(self, x, weight=None, target=None, canvas_factor=None, light=None):
        return vae_loss(self.vae, x, self.cfg, weight, target, canvas_factor, self.tile_class, light)


class NightPairs:
    """Batches of one recordings folder for --night-pairs: frame indices and (input, target) uint8
    frames (n, H, W, 3), a share `p` of them day frames re-rendered at night with and without grain."""

    SOURCE_DAYLIGHT = 0.85  # day frames re-rendered from (their darkening is inverted exactly above 0.5)
    MAX_DAYLIGHT = 0.55  # night daylights drawn from [0, this): the game adds grain below 0.5

    def __init__(self, bank: FrameBank, p: float):
        from worldenv.games.crafter.night import CrafterNight

        h, w = bank.frames.shape[1:3]
        self.bank, self.p = bank, p
        self.night = CrafterNight(size=(w, h), view=bank.view)
        self.real = np.flatnonzero(bank.daylight >= 0.5)  # frames without grain
        self.sources = np.flatnonzero((bank.daylight >= self.SOURCE_DAYLIGHT) & ~bank.sleeping)
        if not len(self.real) or not len(self.sources):
            raise SystemExit("error: --night-pairs needs day frames (jsonl daylight >= "
                             f"{self.SOURCE_DAYLIGHT}, awake) in the recordings")

    def batch(self, rng: np.random.Generator, n: int):
        k = int(rng.binomial(n, self.p))
        real = rng.choice(self.real, n - k)
        src = rng.choice(self.sources, k)
        frames = self.bank.frames
        canvas = self.night.canvas(frames[src], self.bank.daylight[src])
        grainy, clean = self.night.render(frames[src], canvas, rng.uniform(0, self.MAX_DAYLIGHT, k),
                                          rng.random(k) < 0.25, rng)
        idx = np.concatenate([real, src])
        return idx, np.concatenate([frames[real], grainy]), np.concatenate([frames[real], clean])


def check_target_data(cfg: TrainVAEConfig, sources: list[str], clip_len: int) -> list[str]:
    """The --target-data folders, one grain-free copy per --data folder, checked (with the flags
    that go with them) before any frame is decoded; [] without --target-data."""
    from model.recordings import RecordingError
    from worldenv.games.crafter.replay import check_grain_free_copy

    if cfg.night_contrast:
        if cfg.night_contrast < 1:
            raise SystemExit(f"error: --night-contrast is a weight cap >= 1, got {cfg.night_contrast}")
        if not cfg.target_data:  # against grainy targets it would weigh up the grain the VAE cannot know
            raise SystemExit("error: --night-contrast needs --target-data (the grain-free copies to give back)")
    if not cfg.target_data:
        return []
    if cfg.night_pairs or clip_len != 1:
        raise SystemExit("error: --target-data trains on single frames and not with --night-pairs")
    folders = split_sources(cfg.target_data)
    if len(folders) != len(sources):
        raise SystemExit(f"error: --target-data names {len(folders)} folders for {len(sources)} --data folders")
    for data, folder in zip(sources, folders, strict=True):
        try:
            check_grain_free_copy(data, folder)
        except RecordingError as e:
            raise SystemExit(f"error: --target-data: {e}") from None
    return folders


class GrainFreeTargets:
    """A recordings folder's grain-free copy (scripts/replay_grain_free.py, `check_target_data`) lined
    up with its FrameBank frame for frame. Only the frames that differ (the night) are kept."""

    def __init__(self, bank: FrameBank, folder: str, max_frames: int = 0):
        copy = FrameBank(folder, max_frames)
        differs = np.concatenate([(copy.frames[i : i + 4096] != bank.frames[i : i + 4096]).any((1, 2, 3))
                                  for i in range(0, len(bank), 4096)])
        kept = np.flatnonzero(differs)
        self.row = np.full(len(bank), -1, np.int64)  # frame index -> row of self.frames (-1: same as real)
        self.row[kept] = np.arange(len(kept))
        self.frames = copy.frames[kept]

    def __call__(self, frames: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Targets for `frames` (n, ...) uint8, the bank's frames at indices `idx` (n,)."""
        out = frames.copy()
        rows = self.row[idx]
        out[rows >= 0] = self.frames[rows[rows >= 0]]
        return out


class CanvasWeights:
    """Per-pixel factors (n, 1, 3, H, W) for --night-contrast: 1 / (the share of the undarkened
    canvas the game still shows) per grey and colour component of the local view, at most `cap`;
    1 outside the view and for colour while asleep (the game drops it: nothing to give back)."""

    def __init__(self, bank: FrameBank, cap: float):
        from worldenv.games.crafter.night import CrafterNight

        h, w = bank.frames.shape[1:3]
        self.bank, self.cap, self.shape = bank, cap, (h, w)
        self.night = CrafterNight(size=(w, h), view=bank.view)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        gain = self.night.contrast_gains(self.bank.daylight[idx], self.bank.sleeping[idx])  # (n, vh, vw, 2)
        factor = np.where(gain > 0, 1 / np.maximum(gain, 1 / self.cap), 1.0).astype(np.float32)
        out = np.ones((len(idx), 3) + self.shape, np.float32)
        y0, y1, x0, x1 = self.night.box
        out[:, 0, y0:y1, x0:x1] = factor[..., 0]
        out[:, 1:, y0:y1, x0:x1] = factor[..., 1][:, None]
        return out[:, None]


def tile_class_loss(bank: FrameBank, temperature: float) -> TileTemplateLoss:
    """The --tile-class-weight loss for frames of this bank's size and tile view: the frame parser's
    templates (crafter's own textures), lit the way the game lights them."""
    from worldenv.games.crafter.night import NIGHT_COLOUR, CrafterNight
    from worldenv.games.crafter.parse import LUMA, NIGHT_TINT, SLEEP_TINT, CrafterFrameParser
    from worldenv.games.crafter.replay import GRAIN_MEAN

    h, w = bank.frames.shape[1:3]
    parser = CrafterFrameParser(size=(w, h), view=bank.view)
    night = CrafterNight(size=(w, h), view=bank.view)
    return TileTemplateLoss(parser.template_images, parser.template_classes, night.box, night.vignette,
                            LUMA, NIGHT_TINT, SLEEP_TINT, GRAIN_MEAN, NIGHT_COLOUR, temperature)


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


def train(cfg: TrainVAEConfig) -> Path:
    d = setup_distributed(cfg.device, cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + d.rank)
    clip_len = 1 if cfg.vae.temporal_factor == 1 else 1 + cfg.groups * cfg.vae.temporal_factor
    weighted = cfg.rare_tile_weight > 0
    classed = cfg.tile_class_weight > 0
    if cfg.tile_class_weight < 0:
        raise SystemExit(f"error: --tile-class-weight must be >= 0, got {cfg.tile_class_weight}")
    if cfg.tile_class_temperature <= 0:
        raise SystemExit(f"error: --tile-class-temperature must be > 0 pixel levels, got {cfg.tile_class_temperature}")
    if classed and clip_len != 1:
        raise SystemExit("error: --tile-class-weight trains on single frames (--temporal-factor 1)")
    if classed and cfg.night_pairs:
        raise SystemExit("error: --tile-class-weight needs the recorded frames' own maps, not --night-pairs")
    if cfg.night_pairs and clip_len != 1:
        raise SystemExit("error: --night-pairs trains on single frames (--temporal-factor 1)")
    if not 0 <= cfg.night_pairs < 1:
        raise SystemExit(f"error: --night-pairs is a share of the batch in [0, 1), got {cfg.night_pairs}")
    if cfg.keep_latent_stats and not cfg.init:
        raise SystemExit("error: --keep-latent-stats keeps those of --init; give --init")
    sources = split_sources(cfg.data)
    folders = check_target_data(cfg, sources, clip_len)  # before minutes of decoding
    banks = [FrameBank(f, cfg.max_frames, progress=cfg.progress and d.main, tiles=weighted or classed,
                       light=cfg.night_pairs > 0 or cfg.night_contrast > 0 or classed)
             for f in sources]
    if classed and len({(b.frames.shape[1:3], b.view) for b in banks}) != 1:
        raise SystemExit("error: --tile-class-weight needs one frame size and tile view for all --data folders")
    tile_class = tile_class_loss(banks[0], cfg.tile_class_temperature).to(d.device) if classed else None
    canvas = [CanvasWeights(b, cfg.night_contrast) for b in banks] if cfg.night_contrast else None
    pairs = [NightPairs(b, cfg.night_pairs) for b in banks] if cfg.night_pairs else None
    copies = [GrainFreeTargets(b, f, cfg.max_frames) for b, f in zip(banks, folders, strict=True)] if folders else None
    bank_p = bucket_probabilities(cfg.bucket_weights, [len(b) for b in banks])
    # one class weighting for all folders, from the tile counts of all of them
    tile_w = class_weights(np.concatenate([b.tiles.ravel() for b in banks]), cfg.rare_tile_weight) if weighted else None
    if cfg.new_decoder and not (cfg.init and cfg.decoder_only):
        raise SystemExit("error: --new-decoder needs --init and --decoder-only (the encoder to keep)")
    if cfg.init:
        vae = VideoVAE.load(cfg.init)
        if cfg.new_decoder:
            vae = vae.with_new_decoder(cfg.vae.decoder_channels, cfg.vae.decoder_blocks)
        cfg.vae = vae.cfg
        vae = vae.train().to(d.device)
    else:
        if cfg.decoder_only:
            raise SystemExit("error: --decoder-only needs --init (the VAE whose latent space to keep)")
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
    step = resume_state(state_path, vae, opt, KIND, cfg.resume, d.main)
    # A new stream per (seed, rank, start step): a resumed run does not replay the same batches.
    rng = np.random.default_rng([cfg.seed, d.rank, step])
    model = wrap_for_training(VAELoss(vae, cfg, tile_class), d, cfg.compile)
    log = CsvLogger(out / "log.csv", enabled=d.main)
    end = run_end(cfg.steps, cfg.stop_at)
    bar = tqdm(total=end, initial=step, desc="train vae", disable=not (cfg.progress and d.main))
    per_rank = max(1, cfg.batch_size // d.world)
    while step < end:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps)
        which = pick_bucket(cfg.seed, step, bank_p)
        bank, target = banks[which], None
        if pairs:
            starts, x, y = pairs[which].batch(rng, per_rank)
            x = frames_to_tensor(torch.from_numpy(x[:, None])).to(d.device)
            target = frames_to_tensor(torch.from_numpy(y[:, None])).to(d.device)
        else:
            starts = bank.sample_starts(rng, per_rank, clip_len)
            clips = bank.clips(starts, clip_len)
            x = frames_to_tensor(clips).to(d.device)
            if copies:  # single frames: clip t = 1
                y = copies[which](clips.numpy()[:, 0], starts)[:, None]
                target = frames_to_tensor(torch.from_numpy(y)).to(d.device)
        idx = (starts[:, None] + np.arange(clip_len)[None]).ravel()  # every frame of each clip
        weight = None
        if weighted:  # (b, t, 1, H, W) from the tile maps of the clips' frames
            H, W = x.shape[-2:]
            pw = pixel_weights(bank.tiles[idx], tile_w, (W, H), bank.view)
            weight = torch.from_numpy(pw).reshape(len(starts), clip_len, 1, H, W).to(d.device)
        factor = None
        if canvas:
            factor = torch.from_numpy(canvas[which](idx)).reshape(len(starts), clip_len, 3, *x.shape[-2:])
            factor = factor.to(d.device)
        light = None
        if classed:
            light = tuple(torch.from_numpy(np.asarray(a)).to(d.device)
                          for a in (bank.daylight[idx], bank.sleeping[idx], bank.tiles[idx].astype(np.int64)))
        with autocast(d.device, cfg.bf16):
            loss, stats = model(x, weight, target, factor, light)
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
        vae.save(final, steps=step, data=str(cfg.data))
        print(f"saved {final} ({final.stat().st_size / 1e6:.1f} MB) after {step} steps")
    cleanup_distributed()
    return final


def parse_args(argv=None) -> TrainVAEConfig:
    return parse_nested_config(__doc__, TrainVAEConfig, "vae", VAEConfig, argv)


if __name__ == "__main__":
    train(parse_args())
