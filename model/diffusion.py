"""Rectified flow for the SpacetimeDiT: training loss with per-frame noise, and Euler sampling.

    x_sigma = (1 - sigma) * x0 + sigma * eps,   sigma in [0, 1]     (sigma = 0: clean)
    target velocity v = eps - x0                (dx/dsigma)

Noise levels are drawn per frame (diffusion forcing) from a logit-normal. Half of the windows
instead look like rollout: all frames but the last few are context, lightly noised
(sigma <= `context_noise`, "noise augmentation", which makes the model robust to its own
drift) and only the last frames are noised fully. Actions are dropped (set to -1) with
probability `action_dropout` for classifier-free guidance.

The reward/termination heads are trained on near-clean frames only (sigma <= 0.15), which is
how rollout reads them (on the clean pass that also fills the KV cache).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.dit import KVCache, SpacetimeDiT


@dataclass
class FlowConfig:
    """Training-noise and loss settings."""

    logit_mean: float = 0.0
    logit_std: float = 1.0
    rollout_like: float = 0.5  # share of windows with clean-ish context and noisy last frames
    context_noise: float = 0.2  # max sigma of context frames in those windows
    # Noise of the last frames in those windows: logit-normal around this mean, and this share at
    # exactly 1 (pure noise, where sampling starts). High noise is where the model must draw the
    # next frame from its context; with mean 0 it rarely trains there and ends up copying worse
    # than "repeat the last frame" (measured: docs/experiments.md).
    rollout_logit_mean: float = 0.0
    rollout_pure_noise: float = 0.0
    # Flow-loss weight of the context frames of those windows. They are conditioning, not targets,
    # and their low noise gives them large velocity errors: at weight 1 they made 98 % of such a
    # window's loss, leaving the frame being generated 2 % (measured: docs/experiments.md).
    rollout_context_weight: float = 1.0
    action_dropout: float = 0.1
    head_sigma: float = 0.15  # heads learn on frames at most this noisy
    unlock_pos_weight: float = 20.0
    done_pos_weight: float = 20.0
    head_weight: float = 0.5
    event_weight: float = 1.0  # flow-loss weight of event frames (rare events); 1 = off
    refused_weight: float = 1.0  # flow-loss weight of frames after a move the game refused; 1 = off


def sample_sigmas(b: int, t: int, cfg: FlowConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame noise levels (b, t) and flow-loss weights (b, t): 1, except the context frames of
    rollout-like windows, which get `cfg.rollout_context_weight`."""
    sigma = torch.sigmoid(torch.randn(b, t, device=device) * cfg.logit_std + cfg.logit_mean)
    weight = torch.ones(b, t, device=device)
    rollout = torch.rand(b, device=device) < cfg.rollout_like
    if rollout.any():
        k = torch.randint(1, 3, (b,), device=device)  # 1 or 2 noisy frames at the end
        is_ctx = torch.arange(t, device=device)[None] < (t - k)[:, None]
        ctx = torch.rand(b, t, device=device) * cfg.context_noise
        end = torch.sigmoid(torch.randn(b, t, device=device) * cfg.logit_std + cfg.rollout_logit_mean)
        end = torch.where(torch.rand(b, t, device=device) < cfg.rollout_pure_noise, torch.ones_like(end), end)
        sigma = torch.where(rollout[:, None], torch.where(is_ctx, ctx, end), sigma)
        weight = torch.where(rollout[:, None] & is_ctx, torch.full_like(weight, cfg.rollout_context_weight), weight)
    return sigma, weight


def flow_loss(model: SpacetimeDiT, z0: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
              dones: torch.Tensor, cfg: FlowConfig, captions=None,
              events: torch.Tensor | None = None,
              refused: torch.Tensor | None = None,
              stay: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Loss on a window: z0 (b, t, c, h, w) clean latents, actions (b, t, A) that led to each frame,
    rewards (b, t) and dones (b, t) of arriving at each frame; `events` (b, t) bool marks the frames
    `cfg.event_weight` weights (default: the unlock frames, reward >= 0.5), `refused` (b, t) bool
    those `cfg.refused_weight` weights (moves the game refused; None = none); `stay` (b, t) bool
    the moves whose moved-previous-frame input stays unmoved (`SpacetimeDiT.moved`; None = none)."""
    b, t = z0.shape[:2]
    sigma, w_target = sample_sigmas(b, t, cfg, z0.device)
    eps = torch.randn_like(z0)
    s = sigma[..., None, None, None]
    zt = (1 - s) * z0 + s * eps
    if cfg.action_dropout > 0:
        drop = torch.rand(b, t, 1, device=z0.device) < cfg.action_dropout
        actions = torch.where(drop, torch.full_like(actions, -1), actions)
    v, heads = model(zt, sigma, actions, captions, stay=stay)
    per_frame = ((v.float() - (eps - z0)) ** 2).mean((2, 3, 4))
    unlock = (rewards >= 0.5).float()
    # Rare events (an item appearing in the inventory) are a few latent cells of a few frames:
    # weighting their frames up keeps the model from averaging them away. For a random outcome this
    # also raises its odds in the learned distribution (weight w turns odds p:(1-p) into wp:(1-p)).
    event = unlock if events is None else events.float()
    w_frame = (1 + (cfg.event_weight - 1) * event) * w_target
    if refused is not None:
        # A refused move looks like any other move on the action token and in the moved previous
        # frame; only what stands in the way tells. Rare (e.g. ~15 % of moves), so weighted up.
        w_frame = w_frame * (1 + (cfg.refused_weight - 1) * refused.float())
    loss_flow = (per_frame * w_frame).sum() / w_frame.sum().clamp_min(1e-8)
    heads = heads.float()
    clean = (sigma <= cfg.head_sigma).float()
    w_unlock = 1 + (cfg.unlock_pos_weight - 1) * unlock
    bce_unlock = F.binary_cross_entropy_with_logits(heads[..., 0], unlock, weight=w_unlock, reduction="none")
    mse_rest = (heads[..., 1] - (rewards - unlock)) ** 2 * 100  # scaled so a reward step of 0.1 costs 1
    w_done = 1 + (cfg.done_pos_weight - 1) * dones.float()
    bce_done = F.binary_cross_entropy_with_logits(heads[..., 2], dones.float(), weight=w_done, reduction="none")
    denom = clean.sum().clamp_min(1)
    loss_heads = ((bce_unlock + mse_rest + bce_done) * clean).sum() / denom
    loss = loss_flow + cfg.head_weight * loss_heads
    return loss, {"loss": loss.item(), "flow": loss_flow.item(), "heads": loss_heads.item()}


def sigma_schedule(steps: int, device=None, start: float = 1.0) -> torch.Tensor:
    """Noise levels from `start` (1 = pure noise) to 0 for `steps` Euler steps (steps + 1 values)."""
    if steps < 1:
        raise ValueError(f"sampling steps must be >= 1, got {steps}")
    if not 0.0 < start <= 1.0:
        raise ValueError(f"sampling must start at a noise level in (0, 1], got {start}")
    return torch.linspace(start, 0.0, steps + 1, device=device)


@torch.no_grad()
def sample_next_frame(model: SpacetimeDiT, cache: KVCache, action: torch.Tensor, shape: tuple[int, ...],
                      steps: int = 2, guidance: float = 1.0, generator: torch.Generator | None = None,
                      noise: torch.Tensor | None = None, start: torch.Tensor | None = None,
                      start_sigma: float = 1.0, start_mask: torch.Tensor | None = None,
                      stay: torch.Tensor | None = None, fresh_steps: int = 1) -> torch.Tensor:
    """Denoise one new frame (b, 1, c, h, w) given the cached context and the action that leads to it.

    Euler steps from pure noise to clean (`sigma_schedule(steps)`). With `start_sigma` < 1,
    sampling starts from `start`, a guess of the frame (e.g. the previous one moved with the
    view), noised to `start_sigma`, as in SDEdit: what the guess gets right survives and the
    steps redraw the rest. `start_mask` (broadcastable to (b, 1, 1, h, w), bool) limits the guess
    to some cells: the others are drawn from pure noise by `fresh_steps` steps 1 -> start_sigma, after
    which the guessed cells are put in at that level (so `steps` >= fresh_steps + 1; the rest of the
    steps go from start_sigma to 0). With `guidance` != 1,
    classifier-free guidance on the action: v = v(no action) + guidance * (v(action) - v(no action)).
    `stay` (b,) bool: moves that leave the view still (`SpacetimeDiT.moved`; None = none).
    """
    device = action.device
    eps = noise if noise is not None else torch.randn(shape, generator=generator, device=device)
    z, guess, sig = eps, None, sigma_schedule(steps, device)
    if start_sigma < 1.0:
        if start is None or tuple(start.shape) != tuple(shape):
            raise ValueError(f"start_sigma < 1 needs a start frame of shape {tuple(shape)}, got "
                             f"{None if start is None else tuple(start.shape)}")
        guess = (1 - start_sigma) * start.float() + start_sigma * eps
        if start_mask is None or bool(start_mask.all()):
            z, guess, sig = guess, None, sigma_schedule(steps, device, start_sigma)
        else:
            if fresh_steps < 1 or steps < fresh_steps + 1:
                raise ValueError(f"a start guess on some cells needs steps >= fresh_steps + 1 >= 2 (fresh steps draw "
                                 f"the other cells), got steps={steps}, fresh_steps={fresh_steps}")
            fresh = torch.linspace(1.0, start_sigma, fresh_steps + 1, device=device)[:-1]
            sig = torch.cat([fresh, sigma_schedule(steps - fresh_steps, device, start_sigma)])
    b = shape[0]
    both = torch.cat([action, torch.full_like(action, -1)]) if guidance != 1.0 else None
    stay2 = None if stay is None or both is None else torch.cat([stay, stay])
    doubled = cache.doubled() if both is not None else None  # one view for all steps: it keeps its copies
    for i in range(steps):
        s = sig[i].expand(b)
        if both is None:
            v, _ = model.forward_frame(z, s, action, cache, stay=stay)
        else:  # conditioned and unconditioned copies in one batched pass
            v2, _ = model.forward_frame(torch.cat([z, z]), torch.cat([s, s]), both, doubled, stay=stay2)
            v, v0 = v2.chunk(2)
            v = v0 + guidance * (v - v0)
        z = z + (sig[i + 1] - sig[i]) * v.float()
        if i == fresh_steps - 1 and guess is not None:
            z = torch.where(start_mask, guess, z)
    return z


@torch.no_grad()
def sample_window(model: SpacetimeDiT, z_known: torch.Tensor, known: torch.Tensor, actions: torch.Tensor,
                  steps: int = 8, attention: str = "full", captions=None, generator=None,
                  start_sigma: float = 1.0, z_init: torch.Tensor | None = None) -> torch.Tensor:
    """Generate the unknown frames of a whole window at once (bidirectional tasks).

    z_known (b, t, c, h, w) holds the given frames where `known` (b, t) is True; those stay clean
    (sigma 0) while the others are denoised jointly from `start_sigma` (1 = from pure noise; lower,
    with `z_init`, is SDEdit). This one function serves extension backward/forward, loops,
    connecting clips, image animation and single-image generation: they differ only in which
    frames are known and which mask is used.
    """
    b, t = z_known.shape[:2]
    device = z_known.device
    eps = torch.randn(z_known.shape, generator=generator, device=device)
    if z_init is not None:
        z = (1 - start_sigma) * z_init + start_sigma * eps
    else:
        z = eps
    sig = torch.linspace(start_sigma, 0.0, steps + 1, device=device)
    kn = known[..., None, None, None]
    for i in range(steps):
        z = torch.where(kn, z_known, z)
        sigma = torch.where(known, torch.zeros_like(known, dtype=torch.float), sig[i].expand(b, t))
        v, _ = model(z, sigma, actions, captions, attention=attention)
        z = z + (sig[i + 1] - sig[i]) * v.float()
    return torch.where(kn, z_known, z)
