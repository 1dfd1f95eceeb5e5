"""VideoVAE: the video compression network that turns frames into latents and back.

    frames (b, t, 3, H, W) in [-1, 1]  --encode-->  latents (b, t', c, H/8, W/8)  --decode-->  frames

- Spatial factor 8 (three stride-2 stages); any H, W divisible by 8 works, so native sizes and
  aspect ratios need no resizing.
- Causal in time with temporal factor `tf`: a video has t = 1 + k*tf frames; the first frame is
  encoded alone (an image is a one-frame video) and each later group of `tf` frames becomes one
  latent frame, so t' = 1 + k. Latents never depend on later frames. tf=1 (default) is what the
  interactive worlds use: one latent frame per env step.
- Latents are normalised with a per-channel shift/scale measured on the training data and stored
  in the checkpoint, so the DiT sees roughly unit-variance inputs.

The spatial trunk is a plain residual conv net without normalisation layers: it is small
(~1-2M parameters), fast on CPU in bf16, and pixel art has no need for more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from model.checkpoint import (
    CheckpointError,
    config_differences,
    config_from_dict,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)

SPATIAL_FACTOR = 8
CHECKPOINT_KIND = "VideoVAE"
# the layers that map latents to pixels: a decoder-only run trains these and keeps the latent space
_DECODER_PREFIXES = ("decoder.", "from_latent_first.", "from_latent_group.")


@dataclass
class VAEConfig:
    """Architecture of the VideoVAE: the decoder mirrors the encoder."""

    # Fields removed from the code (`checkpoint.config_from_dict`): older checkpoints, the shipped
    # VAE's among them, store them at the neutral value, which still loads.
    REMOVED_FIELDS = {
        "decoder_channels": ((), "a grown decoder (decoder widths other than the encoder's)"),
        "decoder_blocks": (0, "a grown decoder (more residual blocks per level than the encoder)"),
    }

    latent_channels: int = 16
    channels: tuple[int, ...] = (48, 96, 128)  # widths at 1/2, 1/4 and 1/8 resolution
    blocks_per_level: int = 1
    temporal_factor: int = 1

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) != 3:
            raise ValueError(f"channels must have 3 widths (spatial factor 8), got {self.channels}")
        if self.temporal_factor < 1:
            raise ValueError(f"temporal_factor must be >= 1, got {self.temporal_factor}")


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # starts as identity: stable without normalisation
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Encoder2d(nn.Module):
    """(n, 3, H, W) -> (n, channels[-1], H/8, W/8).

    Starts with a 2x2 pixel-unshuffle: lossless for 1-pixel pixel-art edges, and it spares the
    costly full-resolution convolutions.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c = cfg.channels
        layers: list[nn.Module] = [nn.PixelUnshuffle(2), nn.Conv2d(12, c[0], 3, padding=1)]
        for i in range(3):
            layers += [ResBlock(c[i]) for _ in range(cfg.blocks_per_level)]
            if i < 2:
                layers.append(nn.Conv2d(c[i], c[i + 1], 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder2d(nn.Module):
    """(n, channels[-1], h, w) -> (n, 3, 8h, 8w), ending in a 2x2 pixel-shuffle."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c = list(reversed(cfg.channels))
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [ResBlock(c[i]) for _ in range(cfg.blocks_per_level)]
            if i < 2:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c[i], c[i + 1], 3, padding=1)]
        layers += [nn.SiLU(), nn.Conv2d(c[-1], 12, 3, padding=1), nn.PixelShuffle(2)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class VideoVAE(nn.Module):
    """Causal video VAE (see module docstring). Public API works on normalised latents."""

    def __init__(self, cfg: VAEConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VAEConfig()
        self.meta: dict = {}  # metadata of the checkpoint it was loaded from (see save)
        tf, cb, lc = cfg.temporal_factor, cfg.channels[-1], cfg.latent_channels
        self.encoder = Encoder2d(cfg)
        self.decoder = Decoder2d(cfg)
        # First frame alone; later frames in groups of tf packed along channels.
        self.to_moments_first = nn.Conv2d(cb, 2 * lc, 1)
        self.from_latent_first = nn.Conv2d(lc, cb, 1)
        # With tf=1 every latent frame is a single frame: the "first" layers serve all of them.
        self.to_moments_group = nn.Conv2d(tf * cb, 2 * lc, 1) if tf > 1 else None
        self.from_latent_group = nn.Conv2d(lc, tf * cb, 1) if tf > 1 else None
        self.register_buffer("latent_shift", torch.zeros(lc))
        self.register_buffer("latent_scale", torch.ones(lc))

    # ------------------------------------------------------------------ checks
    def check_frames(self, x: torch.Tensor) -> None:
        """Clear errors for inputs the network cannot take."""
        if x.ndim != 5:
            raise ValueError(f"frames must be (b, t, 3, H, W), got shape {tuple(x.shape)}")
        b, t, c, h, w = x.shape
        if c != 3:
            raise ValueError(f"frames must have 3 (RGB) channels in dim 2, got {c} (shape {tuple(x.shape)})")
        if h % SPATIAL_FACTOR or w % SPATIAL_FACTOR or h == 0 or w == 0:
            raise ValueError(f"frame size {h}x{w} must be a positive multiple of {SPATIAL_FACTOR} (pad or crop)")
        tf = self.cfg.temporal_factor
        if (t - 1) % tf:
            raise ValueError(f"with temporal factor {tf} a video has 1 + k*{tf} frames, got {t}")

    def latent_frames(self, t: int) -> int:
        """Latent frames for a video of t frames."""
        return 1 + (t - 1) // self.cfg.temporal_factor

    # ------------------------------------------------------------------ raw moments
    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unnormalised posterior (mean, logvar), each (b, t', c, h, w)."""
        self.check_frames(x)
        b, t = x.shape[:2]
        tf = self.cfg.temporal_factor
        feats = self.encoder(rearrange(x, "b t c h w -> (b t) c h w"))
        feats = rearrange(feats, "(b t) c h w -> b t c h w", b=b)
        first = self.to_moments_first(feats[:, 0])[:, None]
        if t > 1:
            groups = rearrange(feats[:, 1:], "b (k f) c h w -> (b k) (f c) h w", f=tf)
            rest = rearrange((self.to_moments_group or self.to_moments_first)(groups), "(b k) c h w -> b k c h w", b=b)
            m = torch.cat([first, rest], 1)
        else:
            m = first
        mean, logvar = m.chunk(2, dim=2)
        return mean, logvar.clamp(-30, 20)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised latents (b, t', c, h, w) -> frames (b, 1 + (t'-1)*tf, 3, 8h, 8w)."""
        if z.ndim != 5 or z.shape[2] != self.cfg.latent_channels:
            raise ValueError(f"latents must be (b, t, {self.cfg.latent_channels}, h, w), got {tuple(z.shape)}")
        b, tl = z.shape[:2]
        tf = self.cfg.temporal_factor
        first = self.from_latent_first(z[:, 0])[:, None]
        if tl > 1:
            rest = (self.from_latent_group or self.from_latent_first)(rearrange(z[:, 1:], "b k c h w -> (b k) c h w"))
            rest = rearrange(rest, "(b k) (f c) h w -> b (k f) c h w", b=b, f=tf)
            feats = torch.cat([first, rest], 1)
        else:
            feats = first
        x = self.decoder(rearrange(feats, "b t c h w -> (b t) c h w"))
        return rearrange(x, "(b t) c h w -> b t c h w", b=b)

    # ------------------------------------------------------------------ public API (normalised latents)
    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_shift[:, None, None]) / self.latent_scale[:, None, None]

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_scale[:, None, None] + self.latent_shift[:, None, None]

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Frames (b, t, 3, H, W) in [-1, 1] -> normalised latents (b, t', c, H/8, W/8)."""
        mean, logvar = self.moments(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        return self.normalize(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> frames in [-1, 1] (not clamped)."""
        if z.ndim != 5 or z.shape[2] != self.cfg.latent_channels:
            raise ValueError(f"latents must be (b, t, {self.cfg.latent_channels}, h, w), got {tuple(z.shape)}")
        return self.decode_raw(self.denormalize(z))

    def encode_images(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (n, H, W, 3), each encoded as a one-frame video -> latents (n, c, h, w)."""
        device = self.latent_shift.device
        return self.encode(frames_to_tensor(torch.as_tensor(frames).to(device))[:, None])[:, 0].float()

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (n, c, h, w), one frame each -> uint8 frames (n, H, W, 3)."""
        return tensor_to_frames(self.decode(z.float()[:, None])[:, 0])

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """Everything that defines the latent space: encoder weights and latent shift/scale."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(_DECODER_PREFIXES)}

    def same_latent_space(self, other: "VideoVAE") -> bool:
        """True if `other` encodes every frame to the same latents (same encoder and statistics)."""
        mine, theirs = self.encoder_state(), other.encoder_state()
        return mine.keys() == theirs.keys() and all(
            mine[k].shape == theirs[k].shape and torch.equal(mine[k].cpu(), theirs[k].cpu()) for k in mine)

    def decoder_parameters(self) -> list[nn.Parameter]:
        """The parameters that map latents to pixels (trained alone by a decoder-only run)."""
        return [p for k, p in self.named_parameters() if k.startswith(_DECODER_PREFIXES)]

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path, **meta) -> None:
        """Write weights and config; the metadata it was loaded with (training steps, data) is kept
        unless `meta` overrides it, so re-shipping a world keeps its VAE's record of how it was trained."""
        save_checkpoint(path, self.state_dict(), CHECKPOINT_KIND, self.cfg, **{**self.meta, **meta})

    @classmethod
    def load(cls, path: str | Path, expect: VAEConfig | None = None) -> "VideoVAE":
        """Load a checkpoint; with `expect`, a different config is an error that names the fields."""
        tensors, meta = load_checkpoint(path, CHECKPOINT_KIND)
        if "config" not in meta:
            raise CheckpointError(f"{path}: VideoVAE checkpoint has no config")
        cfg = config_from_dict(VAEConfig, meta["config"], str(path))
        diff = config_differences(cfg, expect) if expect is not None else {}
        if diff:
            raise CheckpointError(f"{path}: checkpoint config differs from the expected one: {diff} (file, expected)")
        vae = cls(cfg)
        load_state_strict(vae, tensors, str(path))
        vae.meta = {k: v for k, v in meta.items() if k != "config"}
        return vae.eval()


def frames_to_tensor(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 RGB, got {frames.dtype}")
    if frames.shape[-1] != 3:
        raise ValueError(f"frames must end in 3 RGB channels (..., H, W, 3), got shape {tuple(frames.shape)}")
    return frames.movedim(-1, -3).float().div(127.5).sub(1.0)


def tensor_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 frames (..., H, W, 3)."""
    return x.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)
