"""The one place that defines the latent layout and the spacetime patch round trip.

Layout everywhere in the model:

    latents  (b, t, c, h, w)      normalised VAE latents, one latent frame per env step (tf = 1)
    tokens   (b, t, n, p*p*c)     spacetime patches: n = (h/p) * (w/p) per frame, row-major
    grid     (t, h/p, w/p)        the token grid that 3-D RoPE positions index

`patchify` and `unpatchify` are exact inverses for any h, w divisible by the patch size, so
any native size or aspect ratio is a valid input.
"""

from __future__ import annotations

import torch
from einops import rearrange


def check_latents(z: torch.Tensor, channels: int, patch: int) -> None:
    """Clear errors for latents the DiT cannot take."""
    if z.ndim != 5:
        raise ValueError(f"latents must be (b, t, c, h, w), got shape {tuple(z.shape)}")
    if z.shape[2] != channels:
        raise ValueError(f"latents must have {channels} channels in dim 2, got {z.shape[2]}")
    h, w = z.shape[-2:]
    if h % patch or w % patch:
        raise ValueError(f"latent size {h}x{w} must be divisible by the patch size {patch}")


def patchify(z: torch.Tensor, patch: int) -> torch.Tensor:
    """(b, t, c, h, w) -> (b, t, n, p*p*c)."""
    return rearrange(z, "b t c (h p) (w q) -> b t (h w) (p q c)", p=patch, q=patch)


def unpatchify(tokens: torch.Tensor, patch: int, h: int, w: int) -> torch.Tensor:
    """(b, t, n, p*p*c) -> (b, t, c, h, w) for a latent of size h x w."""
    return rearrange(tokens, "b t (h w) (p q c) -> b t c (h p) (w q)", h=h // patch, w=w // patch, p=patch, q=patch)


def token_grid(h: int, w: int, patch: int) -> tuple[int, int]:
    """Tokens per frame along height and width."""
    return h // patch, w // patch


def shift_cells(z: torch.Tensor, dx: int, dy: int, rows: int = 0) -> torch.Tensor:
    """(..., h, w) with its content moved by (dx, dy) whole cells (right / down positive); the
    cells it uncovers repeat the edge it moved away from (a guess of continuing terrain). With
    `rows` > 0 only the top `rows` rows move (a view above a fixed overlay, e.g. a 2D game's
    inventory rows); the rows below stay as they are."""
    h, w = z.shape[-2:]
    top = min(rows, h) if rows > 0 else h
    view = z[..., :top, :]
    src = (torch.arange(top, device=z.device) - dy).clamp(0, top - 1)
    cols = (torch.arange(w, device=z.device) - dx).clamp(0, w - 1)
    moved = view.index_select(-2, src).index_select(-1, cols)
    return torch.cat([moved, z[..., top:, :]], -2) if top < h else moved


def uncovered_cells(h: int, w: int, dx: int, dy: int, rows: int = 0, device=None) -> torch.Tensor:
    """(h, w) bool: the cells `shift_cells(z, dx, dy, rows)` uncovers, which it fills by repeating
    the edge rather than with anything it knows."""
    top = min(rows, h) if rows > 0 else h
    r, c = torch.arange(h, device=device), torch.arange(w, device=device)
    cols = (c - dx < 0) | (c - dx >= w)
    in_rows = ((r - dy < 0) | (r - dy >= top)) & (r < top)
    return (cols[None, :] & (r < top)[:, None]) | in_rows[:, None]
