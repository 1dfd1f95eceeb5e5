"""Sora-style prompting of a world model: every task is a choice of clean frames and conditions.

All functions take a `WorldModel` and uint8 frames (t, H, W, 3), return uint8 frames, and work at
any frame size the VAE/DiT accept (multiples of 16 with patch 2). Bidirectional tasks (backward
extension, loops, text/image generation from noise) denoise one window jointly with full
attention (`sample_window`); they are limited to the model's window of frames. Editing and
connecting clips slide that window along: each window is given the last frames already made as
clean context, so clips and transitions of any length work. Forward extension and animating an
image with actions run the causal KV-cache rollout, so they have no length limit.
"""

from __future__ import annotations

import numpy as np
import torch

from model.diffusion import sample_window
from model.rollout import DreamRollout, WorldModel
from model.text import FactVocabulary
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
    return FactVocabulary.of_world(world.meta).encode([prompt], world.dit.cfg.max_caption_tokens)


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
    """A transition: starts as the end of clip A, ends as the start of clip B, `frames` new frames
    between (A's last `context` frames, the new ones, B's first `context`). Clips of any length;
    more new frames than one window holds are made window by window, each given the last frames
    made (up to half a window) as clean context and the last one also B's start."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 4 or b.ndim != 4 or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"connect needs two clips of one frame size, got {_size(a)} and {_size(b)}")
    if not 1 <= context <= min(len(a), len(b)):
        raise ValueError(f"context must be in [1, the shorter clip's {min(len(a), len(b))} frames], got {context}")
    window = world.dit.cfg.window
    if 2 * context + 1 > window:
        raise ValueError(f"connecting with {context} frame(s) of each clip needs a window of {2 * context + 1} "
                         f"frames, the model's is {window}")
    if frames < 1:
        raise ValueError("at least one frame must be generated")
    za, zb = _encode(world, a[-context:]), _encode(world, b[:context])
    made, left, i = za, frames, 0
    while left > 0:
        room = window - context - left  # frames made that the last window (the rest, then B) has room for
        last = room >= 1
        if last:
            ctx, n = made[:, -min(made.shape[1], room):], left
        else:  # a window of new frames after the last ones made, leaving at least one for the last window
            ctx = made[:, -min(made.shape[1], max(context, window // 2)):]
            n = min(window - ctx.shape[1], left - 1)
        parts = [ctx, torch.zeros(1, n, *za.shape[2:])] + ([zb] if last else [])
        known = [True] * ctx.shape[1] + [False] * n + ([True] * context if last else [])
        z = _window(world, torch.cat(parts, 1), torch.tensor([known]), None, steps, seed + i)
        made = torch.cat([made, z[:, ctx.shape[1]: ctx.shape[1] + n]], 1)
        left, i = left - n, i + 1
    return _decode(world, torch.cat([made, zb], 1))


def _size(frames: np.ndarray) -> str:
    """'WxH' of frames (t, H, W, 3), or their shape where they are not that."""
    return f"{frames.shape[2]}x{frames.shape[1]}" if frames.ndim == 4 else f"shape {frames.shape}"


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
    """SDEdit: noise the video to `strength` (0..1) and denoise it under a new caption. A video
    longer than the model's window is edited window by window, each window given the last half
    window of edited frames as clean context, so the edit carries on across the joins."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    video = np.asarray(video)
    if len(video) < 1:
        raise ValueError("edit needs a video of at least one frame")
    window = world.dit.cfg.window
    overlap = max(1, window // 2) if window > 1 else 0
    made, pos, i = None, 0, 0
    while pos < len(video):
        # a window of the frames made last (clean, kept) and the next frames of the video (edited)
        ctx = made[:, made.shape[1] - min(overlap, made.shape[1]):] if made is not None else None
        k = 0 if ctx is None else ctx.shape[1]
        n = min(window - k, len(video) - pos)
        z_in = _encode(world, video[pos : pos + n])
        if ctx is not None:
            z_in = torch.cat([ctx, z_in], 1)
        known = torch.tensor([[True] * k + [False] * n])
        z = _window(world, z_in * known[..., None, None, None], known, prompt, steps, seed + i,
                    start_sigma=strength, z_init=z_in)[:, k:]
        made = z if made is None else torch.cat([made, z], 1)
        pos, i = pos + n, i + 1
    return _decode(world, made)
