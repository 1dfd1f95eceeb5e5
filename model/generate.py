"""Sora-style prompting of a world model: every task is a choice of clean frames and conditions.

All functions take a `WorldModel` and uint8 frames (t, H, W, 3), return uint8 frames, and work at
any frame size the VAE/DiT accept (multiples of 16 with patch 2). Bidirectional tasks (backward
extension, loops, connecting clips, editing, text/image generation from noise) denoise one window
jointly with full attention (`sample_window`); they are limited to the model's window of frames.
Forward extension and animating an image with actions run the causal KV-cache rollout, so they
have no length limit.
"""

from __future__ import annotations

import numpy as np
import torch

from model.diffusion import sample_window
from model.rollout import DreamRollout, WorldModel
from model.text import encode_captions
from model.training import autocast


def _encode(world: WorldModel, frames: np.ndarray) -> torch.Tensor:
    """(t, H, W, 3) uint8 -> (1, t, c, h, w) latents, each frame encoded as an image."""
    with autocast(torch.device("cpu"), True):
        return world.vae.encode_images(torch.as_tensor(np.asarray(frames)))[None]


def _decode(world: WorldModel, z: torch.Tensor) -> np.ndarray:
    with autocast(torch.device("cpu"), True):
        return world.vae.decode_images(z[0]).numpy()


def _captions(world: WorldModel, prompt: str | None):
    if not prompt:
        return None
    if not world.dit.cfg.caption_dim:
        raise ValueError("this world was trained without captions; omit the prompt")
    return encode_captions([prompt], world.dit.cfg.max_caption_tokens)


def _check_len(world: WorldModel, total: int) -> None:
    if total > world.dit.cfg.window:
        raise ValueError(f"this task denoises one window: {total} frames asked, the model's window is "
                         f"{world.dit.cfg.window}")
    if total < 1:
        raise ValueError("at least one frame must be generated")


def _window(world, z_known, known, prompt, steps, seed, attention="full", start_sigma=1.0, z_init=None):
    b, t = known.shape
    actions = torch.full((b, t, len(world.action_nvec)), -1, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    with autocast(torch.device("cpu"), True):
        return sample_window(world.dit, z_known, known, actions, steps, attention, _captions(world, prompt), g,
                             start_sigma, z_init)


def latent_size(world: WorldModel, size: tuple[int, int] | None) -> tuple[int, int]:
    """Latent (h, w) for an output size (W, H); the world's native size by default."""
    h, w = world.frame_shape[:2] if size is None else (size[1], size[0])
    mult = 8 * world.dit.cfg.patch
    if h % mult or w % mult:
        raise ValueError(f"size {w}x{h} must be a multiple of {mult} in both dimensions")
    return h // 8, w // 8


def text_to_video(world: WorldModel, prompt: str, frames: int, steps: int = 8, seed: int = 0,
                  size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames from noise under a caption (no frame given)."""
    _check_len(world, frames)
    h, w = latent_size(world, size)
    z = torch.zeros(1, frames, world.dit.cfg.latent_channels, h, w)
    return _decode(world, _window(world, z, torch.zeros(1, frames, dtype=torch.bool), prompt, steps, seed))


def sample_image(world: WorldModel, size: tuple[int, int] | None = None, prompt: str | None = None,
                 steps: int = 8, seed: int = 0) -> np.ndarray:
    """One frame from noise (a one-frame video), at any supported size."""
    h, w = latent_size(world, size)
    z = torch.zeros(1, 1, world.dit.cfg.latent_channels, h, w)
    return _decode(world, _window(world, z, torch.zeros(1, 1, dtype=torch.bool), prompt, steps, seed))[0]


def extend_forward(world: WorldModel, video: np.ndarray, frames: int, actions=None, steps: int = 2,
                   seed: int = 0) -> np.ndarray:
    """Continue a video: the causal rollout from its last frames (with `actions`, or none given)."""
    roll = DreamRollout(world, batch=1, steps=steps, seed=seed)
    k = min(len(video), roll.context)
    roll.reset(np.asarray(video)[None, -k:])
    nvec = world.action_nvec
    acts = np.full((frames, len(nvec)), -1) if actions is None else np.asarray(actions).reshape(frames, -1)
    return np.stack([roll.step(acts[t][None]).frames[0] for t in range(frames)])


def animate_image(world: WorldModel, image: np.ndarray, frames: int, actions=None, steps: int = 2,
                  seed: int = 0) -> np.ndarray:
    """A still image set in motion: the image as a one-frame context, then forward extension."""
    return np.concatenate([np.asarray(image)[None], extend_forward(world, np.asarray(image)[None], frames - 1,
                                                                  actions, steps, seed)])


def extend_backward(world: WorldModel, video: np.ndarray, frames: int, steps: int = 8, seed: int = 0) -> np.ndarray:
    """What came before a video: `frames` new frames that lead into its first frames (full attention).

    Different seeds give different beginnings that all end in the same clip.
    """
    video = np.asarray(video)
    k = min(len(video), world.dit.cfg.window - frames)
    _check_len(world, frames + max(k, 1))
    z_vid = _encode(world, video[:k])
    z = torch.cat([torch.zeros(1, frames, *z_vid.shape[2:]), z_vid], 1)
    known = torch.tensor([[False] * frames + [True] * k])
    return _decode(world, _window(world, z, known, None, steps, seed))


def connect(world: WorldModel, a: np.ndarray, b: np.ndarray, frames: int, steps: int = 8, seed: int = 0,
            context: int = 1) -> np.ndarray:
    """A transition: starts as the end of clip A, ends as the start of clip B, `frames` new frames between."""
    za, zb = _encode(world, np.asarray(a)[-context:]), _encode(world, np.asarray(b)[:context])
    _check_len(world, frames + 2 * context)
    z = torch.cat([za, torch.zeros(1, frames, *za.shape[2:]), zb], 1)
    known = torch.tensor([[True] * context + [False] * frames + [True] * context])
    return _decode(world, _window(world, z, known, None, steps, seed))


def make_loop(world: WorldModel, image: np.ndarray, frames: int, steps: int = 8, seed: int = 0,
              prompt: str | None = None) -> np.ndarray:
    """A seamless loop of `frames` frames through `image`: the window is image, new frames, image again;
    the repeated last frame is dropped, so playing the result on repeat wraps smoothly."""
    _check_len(world, frames + 1)
    z0 = _encode(world, np.asarray(image)[None])
    z = torch.cat([z0, torch.zeros(1, frames - 1, *z0.shape[2:]), z0], 1)
    known = torch.tensor([[True] + [False] * (frames - 1) + [True]])
    return _decode(world, _window(world, z, known, prompt, steps, seed))[:-1]


def edit(world: WorldModel, video: np.ndarray, prompt: str, strength: float = 0.6, steps: int = 8,
         seed: int = 0) -> np.ndarray:
    """SDEdit: noise the video to `strength` (0..1) and denoise it under a new caption."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    video = np.asarray(video)
    _check_len(world, len(video))
    z_in = _encode(world, video)
    known = torch.zeros(1, len(video), dtype=torch.bool)
    return _decode(world, _window(world, torch.zeros_like(z_in), known, prompt, steps, seed,
                                  start_sigma=strength, z_init=z_in))
