"""The previous-frame prior: a denoiser centred on the previous frame (`DiTConfig.prev_prior`).

At 20 frames a second most of a frame is its predecessor, turned or stepped a little. A network
that predicts the rectified-flow velocity outright must redraw all of it, and an undertrained one
drifts away from it (the Minetest world's first recipe scored below "repeat the last frame").
Here the network predicts only a correction to the best guess a simple prior gives:

    x0 ~ N(m, q)            the clean frame, per latent element (latents are normalized: std 1)
    m = (1 - sp) / dp * prev,   dp = (1 - sp)^2 + sp^2      the previous frame `prev`, noised to sp,
    q = tau^2 + sp^2 / dp                                   denoised by a N(0, 1) prior; tau = the
                                                            frame-to-frame change's std
    z = (1 - s) x0 + s eps  the input at noise level s

The posterior mean is x0* = m + (1 - s) q / D * y with y = z - (1 - s) m and D = (1 - s)^2 q + s^2,
and its std s sqrt(q / D). The network's output F scales that std: x0_hat = x0* + s sqrt(q / D) F,
so the velocity v = (z - x0_hat) / s is

    v = (s - (1 - s) q) / D * y - m - sqrt(q / D) F

with no division by s (it stays finite at s = 0), and the flow loss's target for F has unit
variance at every noise level, as in EDM's preconditioning. With F = 0 one Euler step from pure
noise returns m, the previous frame (denoised); a window's first frame (prev = zeros at
sp = 1) falls back to a N(0, 1 + tau^2) prior.
"""

from __future__ import annotations

import torch


def prior_velocity(out: torch.Tensor, z: torch.Tensor, sigma: torch.Tensor, prev: torch.Tensor,
                   prev_sigma: torch.Tensor, tau: float) -> torch.Tensor:
    """Velocity (b, t, c, h, w) from the network's output `out` (b, t, c, h, w), the noisy input `z`
    (b, t, c, h, w) at noise levels `sigma` (b, t), and each frame's previous frame `prev`
    (b, t, c, h, w) at its noise levels `prev_sigma` (b, t). In float32: the terms nearly cancel."""
    s = sigma.float()[..., None, None, None]
    sp = prev_sigma.float()[..., None, None, None]
    dp = (1 - sp) ** 2 + sp ** 2
    m = (1 - sp) / dp * prev.float()
    q = tau ** 2 + sp ** 2 / dp
    d = (1 - s) ** 2 * q + s ** 2
    y = z.float() - (1 - s) * m
    return (s - (1 - s) * q) / d * y - m - torch.sqrt(q / d) * out.float()
