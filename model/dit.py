"""SpacetimeDiT: a diffusion transformer over spacetime patches of VAE latents.

Sequence layout (one window of T latent frames, n = (h/p)(w/p) patches per frame):

    [caption tokens (L, optional)] [a_0, patches of frame 0] [a_1, patches of frame 1] ... [a_T-1, ...]

- `a_t` is the **action token** of frame t: the action that led *to* frame t (null for the first
  frame of an episode). It is built from the action's parts (e.g. one part for a Discrete(17)
  action; 23 buttons + 2 camera bins for a MineRL-style MultiDiscrete one), one embedding table
  per part, summed.
- Each frame has its own **noise level** sigma_t in [0, 1] (diffusion forcing): clean context
  frames have sigma = 0. sigma_t and the action drive adaLN modulation of that frame's tokens.
- **3-D RoPE** over (t, row, col) on queries and keys, so any grid size and duration is valid.
- **Attention mask**: "causal" = block-causal over frames (a frame sees itself, earlier frames,
  their actions and the caption), "full" = every frame sees every frame. One model, two masks.
- **Heads** on each frame's pooled tokens: unlock (reward >= 0.5) logit, the rest of the reward
  (health change), termination logit, and (with `achievements` > 0) one logit per achievement
  naming which one unlocked. They are meant to be read on clean frames.

For rollout, `forward_frame` runs one new frame against a `KVCache` of earlier clean frames.
The cache stores un-rotated keys and rotates them on use with window-relative positions, so
positions never grow beyond the training window however long an episode runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.checkpoint import (
    CheckpointError,
    config_differences,
    config_from_dict,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)
from model.latents import check_latents, patchify, shift_cells, token_grid, uncovered_cells, unpatchify
from model.prev_prior import prior_velocity

CHECKPOINT_KIND = "SpacetimeDiT"


@dataclass
class DiTConfig:
    """Architecture of the SpacetimeDiT (see PRESETS for named sizes).

    `action_nvec` has no default: it is the game's action space, which every caller names (a
    checkpoint stores it; a recipe or a latent cache gives it to training).
    """

    # Fields removed from the code (`checkpoint.config_from_dict`): older checkpoints store them at
    # the neutral value, which still loads.
    REMOVED_FIELDS = {"outcomes": (False, "outcome tokens (an action's judged outcome embedded beside it)")}

    latent_channels: int = 16
    patch: int = 2
    dim: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    # sizes of the action's parts: (n,) for a Discrete(n) action, else a MultiDiscrete's nvec
    action_nvec: tuple[int, ...] = field(kw_only=True)
    window: int = 16  # frames per training window = KV-cache frames + 1 at rollout
    caption_dim: int = 0  # width of caption embeddings; 0 = no caption conditioning
    max_caption_tokens: int = 16
    achievements: int = 0  # extra head outputs naming which achievement unlocked (0 = none)
    # Each frame's patch tokens also embed the previous frame's patch at the same place (as
    # DIAMOND stacks past frames on the input): copying what did not change becomes a local
    # operation instead of something attention must learn. The first frame of a window gets zeros.
    prev_frame: bool = False
    # How the view moves after an action: ((action, dx, dy), ...) for values of the first action
    # part, in latent cells (e.g. a tile-based game whose 8-px tiles are one latent cell each). With
    # prev_frame, tokens also embed the previous frame moved against the viewpoint, so a successful
    # step is a local copy too; the unmoved input stays, for steps a wall blocks.
    view_moves: tuple[tuple[int, int, int], ...] = ()
    # Latent rows the moving view covers, from the top (0 = all). Rows below are a fixed overlay
    # (e.g. a 2D game's inventory rows) that view_moves leaves in place.
    view_rows: int = 0
    # Std of a frame's (normalized) latent change from its predecessor; > 0 centres the denoiser on
    # the previous frame (needs prev_frame). The network then predicts the correction to a Gaussian
    # prior "this frame = the previous one, give or take this std", with the previous frame's own
    # noise folded in, so an untrained model repeats the last frame and a trained one spends its
    # capacity on what changed (EDM's preconditioning, centred on the previous frame instead of 0).
    # 0 = off: the network predicts the velocity itself.
    prev_prior: float = 0.0

    def __post_init__(self):
        self.action_nvec = tuple(int(n) for n in self.action_nvec)
        self.view_moves = tuple(tuple(int(x) for x in m) for m in self.view_moves)
        for m in self.view_moves:
            if len(m) != 3 or not 0 <= m[0] < self.action_nvec[0]:
                raise ValueError(f"view_moves entries must be (action, dx, dy) with action in "
                                 f"[0, {self.action_nvec[0]}), got {m}")
        if len({m[0] for m in self.view_moves}) != len(self.view_moves):
            raise ValueError(f"view_moves names an action twice: {self.view_moves}")
        if self.view_rows < 0:
            raise ValueError(f"view_rows must be >= 0 (0 = all rows), got {self.view_rows}")
        if self.view_rows and not self.view_moves:
            raise ValueError("view_rows says which rows view_moves shifts: it needs view_moves")
        if self.view_moves and not self.prev_frame:
            raise ValueError("view_moves moves the previous-frame input: it needs prev_frame=True")
        if self.prev_prior < 0 or not math.isfinite(self.prev_prior):
            raise ValueError(f"prev_prior must be a finite std >= 0 (0 = off), got {self.prev_prior}")
        if self.prev_prior and not self.prev_frame:
            raise ValueError("prev_prior centres the denoiser on the previous frame: it needs prev_frame=True")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if (self.dim // self.heads) % 8:
            raise ValueError(f"head dim {self.dim // self.heads} must be a multiple of 8 for 3-D RoPE")


PRESETS = {
    "XS": dict(dim=192, depth=6, heads=3),
    "S": dict(dim=256, depth=8, heads=4),
    "B": dict(dim=384, depth=12, heads=6),
    "L": dict(dim=512, depth=16, heads=8),
}


def preset(name: str, **overrides) -> DiTConfig:
    """A named size (like DiT's S/B/L) with overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown DiT preset {name!r}; choose one of {sorted(PRESETS)}")
    return DiTConfig(**{**PRESETS[name], **overrides})


# ---------------------------------------------------------------------------- embeddings


def sigma_embedding(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of noise levels sigma in [0, 1] (any shape) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=sigma.device) / half)
    args = (sigma.float() * 1000)[..., None] * freqs
    return torch.cat([args.cos(), args.sin()], -1)


class ActionEmbedding(nn.Module):
    """Actions (..., A) int64 -> (..., dim): one table per part (plus a null row), summed.

    -1 in any part means "no action" (episode start, or dropped for classifier-free guidance).
    """

    def __init__(self, nvec: tuple[int, ...], dim: int):
        super().__init__()
        self.nvec = nvec
        self.tables = nn.ModuleList(nn.Embedding(n + 1, dim) for n in nvec)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        out = 0
        for i, (n, table) in enumerate(zip(self.nvec, self.tables, strict=True)):
            a = actions[..., i]
            out = out + table(torch.where(a < 0, n, a))
        return out


def check_actions(actions: torch.Tensor, nvec: tuple[int, ...], lead: tuple[int, ...]) -> None:
    """Actions must be int (lead..., A) with each part in [-1, n) -- never silently broadcast."""
    want = (*lead, len(nvec))
    if tuple(actions.shape) != want:
        raise ValueError(f"actions must have shape {want} (parts {list(nvec)}), got {tuple(actions.shape)}")
    if actions.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"actions must be int64, got {actions.dtype}")
    hi = torch.tensor(nvec, device=actions.device)
    if ((actions < -1) | (actions >= hi)).any():
        raise ValueError(f"action parts out of range: each part i must be in [0, nvec[i]) = {list(nvec)} (-1 = none)")


def check_stay(stay: torch.Tensor | None, lead: tuple[int, ...]) -> None:
    """`stay` must be None or a bool tensor of shape `lead`: never broadcast silently."""
    if stay is None:
        return
    if stay.dtype != torch.bool or tuple(stay.shape) != tuple(lead):
        raise ValueError(f"stay must be a bool tensor of shape {tuple(lead)}, got {stay.dtype} {tuple(stay.shape)}")


# ---------------------------------------------------------------------------- RoPE


def rope_angles(pos: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Positions (S, 3) of (t, row, col) -> angles (S, head_dim/2).

    The rotated pairs are split between the axes: a quarter for time, the rest halved between
    rows and columns. Angles are computed in float64 so they stay exact.
    """
    pairs = head_dim // 2
    n_t = pairs // 4
    n_s = (pairs - n_t) // 2
    sizes = [n_t, n_s, pairs - n_t - n_s]
    parts = []
    for axis, n in enumerate(sizes):
        freqs = 1.0 / (100.0 ** (torch.arange(n, dtype=torch.float64, device=pos.device) / max(1, n)))
        parts.append(pos[:, axis, None].double() * freqs)
    return torch.cat(parts, -1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (b, h, S, d) by angles given as cos/sin (S, d/2): pairs are (x[i], x[i + d/2])."""
    x1, x2 = x.chunk(2, -1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


class Modulation:
    """adaLN parameters per frame (b, t, k*d) applied to tokens laid out as
    [L caption tokens][t frames x m tokens], without materialising them per token."""

    def __init__(self, frame_params: torch.Tensor, cap_params: torch.Tensor | None, L: int, t: int, m: int, k: int):
        self.f = frame_params.unsqueeze(2).chunk(k, -1)  # each (b, t, 1, d)
        self.c = cap_params.chunk(k, -1) if cap_params is not None else None  # each (b, 1, d)
        self.L, self.t, self.m = L, t, m

    def apply(self, x: torch.Tensor, fn) -> torch.Tensor:
        """fn(tokens, *params) on the frame part (b, t, m, d) and the caption part (b, L, d)."""
        b, _, d = x.shape
        frames = fn(x[:, self.L:].reshape(b, self.t, self.m, d), *self.f).reshape(b, self.t * self.m, d)
        if not self.L:
            return frames
        return torch.cat([fn(x[:, : self.L], *self.c), frames], 1)


# ---------------------------------------------------------------------------- blocks


class Block(nn.Module):
    """adaLN-Zero transformer block with QK-norm and RoPE; optionally attends to cached K/V."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_scale = nn.Parameter(torch.ones(dim // heads))
        self.k_scale = nn.Parameter(torch.ones(dim // heads))
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    @staticmethod
    def _qk_norm(x, scale):
        return F.rms_norm(x, (x.shape[-1],), scale.to(x.dtype), 1e-6)

    def forward(self, x, cond, cos, sin, mask=None, past=None):
        """x (b, S, d); cond: (frame cond (b, t, d), caption cond (b, 1, d) or None, L, t, m);
        past: cached (k, v), each (b, h, P, hd), keys already rotated to their positions.

        Returns (x, (k, v)) with this call's un-rotated keys and values (for caching).
        """
        b, S, d = x.shape
        frame_cond, cap_cond, L, t, m = cond
        mod = Modulation(self.ada(F.silu(frame_cond)), self.ada(F.silu(cap_cond)) if L else None, L, t, m, 6)
        h = mod.apply(x, lambda u, sh, sc, *_: self.norm1(u) * (1 + sc) + sh)
        q, k, v = self.qkv(h).view(b, S, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = self._qk_norm(q, self.q_scale), self._qk_norm(k, self.k_scale)
        new_kv = (k, v)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past is not None:
            k = torch.cat([past[0].to(q.dtype), k], 2)
            v = torch.cat([past[1].to(q.dtype), v], 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        a = self.proj(a.transpose(1, 2).reshape(b, S, d))
        x = x + mod.apply(a, lambda u, _s1, _c1, g1, *_: g1 * u)
        h = mod.apply(x, lambda u, _s1, _c1, _g1, sh, sc, _g2: self.norm2(u) * (1 + sc) + sh)
        return x + mod.apply(self.mlp(h), lambda u, *p: p[5] * u), new_kv


# ---------------------------------------------------------------------------- the model


class SpacetimeDiT(nn.Module):
    """Diffusion transformer over spacetime latent patches with action tokens (module docstring)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d, pdim = cfg.dim, cfg.patch * cfg.patch * cfg.latent_channels
        self.patch_in = nn.Linear(pdim, d)
        if cfg.prev_frame:
            self.prev_in = nn.Linear(pdim, d)  # zero-initialised: a trained model starts unchanged
            nn.init.zeros_(self.prev_in.weight)
            nn.init.zeros_(self.prev_in.bias)
        if cfg.view_moves:
            self.moved_in = nn.Linear(pdim, d)  # zero-initialised like prev_in
            nn.init.zeros_(self.moved_in.weight)
            nn.init.zeros_(self.moved_in.bias)
        self.action_token = ActionEmbedding(cfg.action_nvec, d)
        self.action_cond = ActionEmbedding(cfg.action_nvec, d)
        self.type_embed = nn.Parameter(torch.zeros(2, d))  # 0: action token, 1: patch token
        self.sigma_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        if cfg.caption_dim:
            self.caption_in = nn.Linear(cfg.caption_dim, d)
            self.caption_cond = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self._trig_memo: dict = {}  # _new_frame_trig's, per (t, grid, device); not a parameter
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, pdim)
        self.heads_mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 3 + cfg.achievements))
        nn.init.normal_(self.type_embed, std=0.02)
        for m in (self.final_ada, self.patch_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    @property
    def head_dim(self) -> int:
        return self.cfg.dim // self.cfg.heads

    # ------------------------------------------------------------------ helpers
    def _frame_tokens(self, z, sigma, actions, prev=None, stay=None):
        """Tokens (b, t, 1+n, d) and per-frame conditioning (b, t, d); `prev` (b, t, c, h, w) is
        each frame's previous frame (used when cfg.prev_frame); `stay` (b, t) bool: moves that
        left the view where it was (see `moved`)."""
        b, t = z.shape[:2]
        patches = self.patch_in(patchify(z, self.cfg.patch)) + self.type_embed[1]
        if self.cfg.prev_frame:
            patches = patches + self.prev_in(patchify(prev, self.cfg.patch))
        if self.cfg.view_moves:
            patches = patches + self.moved_in(patchify(self.moved(prev, actions, stay), self.cfg.patch))
        act = self.action_token(actions)[:, :, None] + self.type_embed[0]
        cond = self.sigma_mlp(sigma_embedding(sigma, 256)) + self.action_cond(actions)
        tokens = torch.cat([act, patches], 2)
        return tokens, cond

    def moved(self, prev, actions, stay=None):
        """prev (b, t, c, h, w) moved against each frame's view move (cfg.view_moves); unmoved
        where the action is not a move or is none (-1), where `stay` (b, t) bool says the move left
        the view where it was (the game refused it: a `MoveGate` call, or the recordings in
        training), and everywhere without view_moves."""
        out = prev
        for action, dx, dy in self.cfg.view_moves:
            hit = actions[..., 0] == action
            if stay is not None:
                hit = hit & ~stay
            hit = hit[..., None, None, None]
            out = torch.where(hit, shift_cells(prev, -dx, -dy, self.cfg.view_rows), out)
        return out

    def uncovered(self, actions, h: int, w: int, stay=None) -> torch.Tensor:
        """(b, h, w) bool for actions (b, A): the cells `moved` fills by repeating the edge (the
        strip of view a step brings in, which the previous frame never showed); none where `stay`
        (b,) bool."""
        out = torch.zeros(actions.shape[0], h, w, dtype=torch.bool, device=actions.device)
        for action, dx, dy in self.cfg.view_moves:
            hit = actions[:, 0] == action
            if stay is not None:
                hit = hit & ~stay
            hit = hit[:, None, None]
            out = out | (hit & uncovered_cells(h, w, -dx, -dy, self.cfg.view_rows, actions.device))
        return out

    def _positions(self, t0: int, t: int, gh: int, gw: int, device) -> torch.Tensor:
        """(t*(1+n), 3) positions: the action token of frame i sits at (i, -1, -1)."""
        rows = torch.arange(gh, device=device).repeat_interleave(gw)
        cols = torch.arange(gw, device=device).repeat(gh)
        frame = torch.stack([torch.zeros_like(rows), rows, cols], -1)
        frame = torch.cat([torch.tensor([[0, -1, -1]], device=device), frame])
        pos = frame[None].repeat(t, 1, 1)
        pos[..., 0] = torch.arange(t0, t0 + t, device=device)[:, None]
        return pos.reshape(-1, 3)

    def _trig(self, pos: torch.Tensor):
        ang = rope_angles(pos, self.head_dim)
        return ang.cos().float(), ang.sin().float()

    def _new_frame_trig(self, t: int, gh: int, gw: int, device):
        """Positions of one frame's tokens at time 0 (a cache's slots are placed from them) and
        RoPE cos/sin of the same tokens at time t, the new frame's window-relative position.
        Kept per (t, grid, device): a rollout asks for the same few every step."""
        key = (t, gh, gw, str(device))
        memo = self._trig_memo
        if key not in memo:
            frame_pos = self._positions(0, 1, gh, gw, device)
            new_pos = frame_pos.clone()
            new_pos[:, 0] = t
            memo[key] = (frame_pos, *self._trig(new_pos))
        return memo[key]

    def _out(self, x, cond, b, t, n, h, w, prior=None):
        """Final layer on frame tokens x (b, t*(1+n), d): velocity (b, t, c, h, w) and heads (b, t, 3 + achievements).
        `prior` (z, sigma, prev, prev_sigma) turns the output into a correction of the previous-frame prior
        (cfg.prev_prior)."""
        shift, scale = self.final_ada(F.silu(cond)).unsqueeze(2).chunk(2, -1)  # (b, t, 1, d)
        x = x.view(b, t, 1 + n, -1)
        y = self.final_norm(x) * (1 + scale) + shift
        v = unpatchify(self.patch_out(y[:, :, 1:]), self.cfg.patch, h, w)
        if prior is not None:
            v = prior_velocity(v, *prior, self.cfg.prev_prior)
        heads = self.heads_mlp(x.mean(2))
        return v, heads

    def _caption_tokens(self, captions, b):
        if captions is None:
            return None
        if not self.cfg.caption_dim:
            raise ValueError("this model was trained without captions (caption_dim=0)")
        if captions.ndim != 3 or captions.shape[0] != b or captions.shape[2] != self.cfg.caption_dim:
            raise ValueError(f"captions must be ({b}, L, {self.cfg.caption_dim}), got {tuple(captions.shape)}")
        if captions.shape[1] > self.cfg.max_caption_tokens:
            raise ValueError(f"caption has {captions.shape[1]} tokens, at most {self.cfg.max_caption_tokens} allowed")
        return self.caption_in(captions)

    # ------------------------------------------------------------------ training / bidirectional use
    def forward(self, z, sigma, actions, captions=None, attention: str = "causal", stay=None):
        """Denoise a window.

        z (b, t, c, h, w) noisy latents; sigma (b, t) noise levels; actions (b, t, A) the action
        that led to each frame (-1 = none); captions (b, L, caption_dim) or None;
        attention "causal" (block-causal over frames) or "full"; stay (b, t) bool or None: moves
        that left the view still (`moved`).
        Returns velocity (b, t, c, h, w) and heads (b, t, 3 + achievements).
        """
        check_latents(z, self.cfg.latent_channels, self.cfg.patch)
        b, t, _, h, w = z.shape
        if t > self.cfg.window:
            raise ValueError(f"window of {t} frames is longer than the model's {self.cfg.window}")
        if tuple(sigma.shape) != (b, t):
            raise ValueError(f"sigma must be ({b}, {t}), got {tuple(sigma.shape)}")
        check_actions(actions, self.cfg.action_nvec, (b, t))
        check_stay(stay, (b, t))
        if attention not in ("causal", "full"):
            raise ValueError(f"attention must be 'causal' or 'full', got {attention!r}")
        gh, gw = token_grid(h, w, self.cfg.patch)
        n = gh * gw
        prev = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1) if self.cfg.prev_frame else None
        prior = None
        if self.cfg.prev_prior:  # the first frame's previous frame is zeros, i.e. pure noise (sigma 1)
            prior = (z, sigma, prev, torch.cat([torch.ones_like(sigma[:, :1]), sigma[:, :-1]], 1))
        tokens, cond = self._frame_tokens(z, sigma, actions, prev, stay)
        x = tokens.reshape(b, t * (1 + n), -1)
        cos, sin = self._trig(self._positions(0, t, gh, gw, z.device))
        frame_of = torch.arange(t, device=z.device).repeat_interleave(1 + n)
        mask = None
        if attention == "causal":
            mask = frame_of[:, None] >= frame_of[None, :]
        cap = self._caption_tokens(captions, b)
        L = 0 if cap is None else cap.shape[1]
        block_cond = (cond, self.caption_cond.expand(b, 1, -1) if L else None, L, t, 1 + n)
        if cap is not None:
            x = torch.cat([cap, x], 1)
            zeros = torch.zeros(L, cos.shape[1], device=z.device)
            cos, sin = torch.cat([zeros + 1, cos]), torch.cat([zeros, sin])
            S = L + t * (1 + n)
            full = torch.ones(S, S, dtype=torch.bool, device=z.device)
            full[:L, L:] = False  # caption tokens do not look at frames (so they can be cached)
            if mask is not None:
                full[L:, L:] = mask
            mask = full
        for blk in self.blocks:
            x, _ = blk(x, block_cond, cos, sin, mask)
        return self._out(x[:, L:], cond, b, t, n, h, w, prior)

    # ------------------------------------------------------------------ rollout
    def forward_frame(self, z, sigma, action, cache: "KVCache", write: bool = False, stay=None):
        """One new frame against the cache of earlier clean frames.

        z (b, 1, c, h, w); sigma (b,); action (b, A) that led to this frame; stay (b,) bool or
        None: the move left the view still (`moved`). With `write`, this frame's keys/values are
        appended to the cache (do that on the clean pass).
        Returns velocity (b, 1, c, h, w) and heads (b, 1, 3 + achievements).
        """
        check_latents(z, self.cfg.latent_channels, self.cfg.patch)
        b, t, _, h, w = z.shape
        if t != 1:
            raise ValueError(f"forward_frame takes one frame, got {t}")
        check_actions(action, self.cfg.action_nvec, (b,))
        check_stay(stay, (b,))
        gh, gw = token_grid(h, w, self.cfg.patch)
        n = gh * gw
        cache.check(b, n, self)
        prev, prior = None, None
        if self.cfg.prev_frame:
            prev = cache.last() if cache.frames else torch.zeros_like(z)
        if self.cfg.prev_prior:
            prev_sigma = cache.last_sigma() if cache.frames else torch.ones(b, device=z.device)
            prior = (z, sigma[:, None], prev, prev_sigma[:, None])
        tokens, cond = self._frame_tokens(z, sigma[:, None], action[:, None], prev,
                                          None if stay is None else stay[:, None])
        x = tokens.reshape(b, 1 + n, -1)
        block_cond = (cond, None, 0, 1, 1 + n)
        frame_pos, cos, sin = self._new_frame_trig(cache.frames, gh, gw, z.device)
        for i, blk in enumerate(self.blocks):
            x, kv = blk(x, block_cond, cos, sin, None, cache.rotated(i, self, frame_pos))
            if write:
                cache.stage(i, kv)
        if write:
            cache.commit(z, sigma)
        return self._out(x, cond, b, 1, n, h, w, prior)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path, dtype: torch.dtype = torch.float32, **meta) -> None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.state_dict().items()}
        save_checkpoint(path, sd, CHECKPOINT_KIND, self.cfg, **meta)

    @classmethod
    def load(cls, path: str | Path, expect: DiTConfig | None = None) -> tuple["SpacetimeDiT", dict]:
        """Load weights (any float dtype, cast to float32) and the checkpoint's metadata."""
        tensors, meta = load_checkpoint(path, CHECKPOINT_KIND)
        if "config" not in meta:
            raise CheckpointError(f"{path}: SpacetimeDiT checkpoint has no config")
        cfg = config_from_dict(DiTConfig, meta.pop("config"), str(path))
        diff = config_differences(cfg, replace(expect)) if expect is not None else {}
        if diff:
            raise CheckpointError(f"{path}: checkpoint config differs from the expected one: {diff} (file, expected)")
        model = cls(cfg)
        load_state_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, str(path))
        return model.eval(), meta


class KVCache:
    """Fixed-size ring buffer of the last `size` clean frames' keys/values, per layer.

    Memory and time per step are constant: when full, the oldest frame's slot is overwritten.
    Keys are stored un-rotated; `trig` gives each slot's window-relative position (oldest = 0),
    matching the positions the model saw in training windows.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"cache size must be >= 1, got {size}")
        self.size = size
        self.k: list[torch.Tensor] | None = None
        self.v: list[torch.Tensor] | None = None
        self.age: torch.Tensor | None = None  # per slot: frames since written (-1 = empty)
        self.tokens = 0
        self._staged: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._trig = None
        self._rotated: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # per layer, until the next write
        self.version = 0  # bumped on every change, so views (doubled()) know when their copies are stale
        self._last: torch.Tensor | None = None  # newest frame's latent (b, 1, c, h, w), as written
        self._last_sigma: torch.Tensor | None = None  # and its noise level (b,)

    @property
    def frames(self) -> int:
        """Number of valid frames (= the new frame's window-relative position)."""
        return 0 if self.age is None else int((self.age >= 0).sum())

    def check(self, b: int, n: int, model: SpacetimeDiT) -> None:
        if self.k is not None and (self.k[0].shape[0] != b or self.tokens != 1 + n):
            raise ValueError(f"cache holds batch {self.k[0].shape[0]} x {self.tokens} tokens, got {b} x {1 + n}")
        if self.size >= model.cfg.window:
            raise ValueError(f"cache of {self.size} frames needs a model window > {self.size} ({model.cfg.window})")

    def get(self, layer: int):
        """Cached (k, v) of the valid slots, in slot order, or None when empty."""
        if self.k is None or self.frames == 0:
            return None
        if self.frames == self.size:
            return self.k[layer], self.v[layer]
        valid = (self.age >= 0).repeat_interleave(self.tokens)
        return self.k[layer][:, :, valid], self.v[layer][:, :, valid]

    def trig(self, model: SpacetimeDiT, frame_pos: torch.Tensor):
        """RoPE cos/sin of the cached tokens (slot order), from window-relative positions."""
        if self.frames == 0:
            return None, None
        if self._trig is None:
            slots = (self.age >= 0).nonzero()[:, 0]
            pos = frame_pos[None].repeat(len(slots), 1, 1)
            pos[..., 0] = (self.frames - 1 - self.age[slots])[:, None]  # oldest -> 0, newest -> frames-1
            self._trig = model._trig(pos.reshape(-1, 3))
        return self._trig

    def rotated(self, layer: int, model: SpacetimeDiT, frame_pos: torch.Tensor):
        """get(layer) with the keys rotated to their positions (RoPE), or None when empty. Kept
        until the cache changes: every denoising step of a frame reads the same rotated keys."""
        if layer not in self._rotated:
            kv = self.get(layer)
            if kv is None:
                return None
            cos, sin = self.trig(model, frame_pos)
            self._rotated[layer] = (apply_rope(kv[0], cos, sin), kv[1])
        return self._rotated[layer]

    def stage(self, layer: int, kv) -> None:
        self._staged[layer] = (kv[0].detach(), kv[1].detach())

    def last(self) -> torch.Tensor:
        """The newest frame's latent (b, 1, c, h, w) as it was written: the next frame's previous frame."""
        if self._last is None or self.frames == 0:
            raise ValueError("the cache holds no frame")
        return self._last

    def last_sigma(self) -> torch.Tensor:
        """The newest frame's noise level (b,) as it was written (0 where `commit` was given none)."""
        if self._last_sigma is None or self.frames == 0:
            raise ValueError("the cache holds no frame")
        return self._last_sigma

    def commit(self, z: torch.Tensor, sigma: torch.Tensor | None = None) -> None:
        """Write the staged frame into the oldest (or first empty) slot; `z` is its latent (b, 1, c, h, w)
        at noise levels `sigma` (b,) (None = clean)."""
        layers = len(self._staged)
        k0 = self._staged[0][0]
        b, h, tok, hd = k0.shape
        if self.k is None:
            self.tokens = tok
            self.k = [k0.new_zeros(b, h, self.size * tok, hd) for _ in range(layers)]
            self.v = [k0.new_zeros(b, h, self.size * tok, hd) for _ in range(layers)]
            self.age = torch.full((self.size,), -1, dtype=torch.long, device=k0.device)
        empty = (self.age < 0).nonzero()
        slot = int(empty[0]) if len(empty) else int(self.age.argmax())
        for i, (k, v) in self._staged.items():
            self.k[i][:, :, slot * tok : (slot + 1) * tok] = k
            self.v[i][:, :, slot * tok : (slot + 1) * tok] = v
        self.age[self.age >= 0] += 1
        self.age[slot] = 0
        self._staged.clear()
        self._trig = None
        self._rotated.clear()
        self.version += 1
        self._last = z.detach().clone()
        self._last_sigma = (torch.zeros(z.shape[0], device=z.device) if sigma is None
                            else sigma.detach().float().expand(z.shape[0]).clone())

    def doubled(self) -> "DoubledCache":
        """A read-only view of this cache with the batch repeated twice, so one forward pass can
        run a batch's conditioned and unconditioned copies together (classifier-free guidance).
        The view concatenates a copy of the cached (rotated) keys/values on first read and keeps it,
        so use one view for all denoising steps of a frame: twice the cache's memory, which costs
        less than a second forward pass (scripts/bench.py: batch 1 to 8 faster, 32 and 64 even)."""
        return DoubledCache(self)

    def copy_rows(self, rows: list[int], other: "KVCache") -> None:
        """Overwrite batch rows `rows` with the rows of `other` (a full cache of the same size).

        Slots are matched by age, so each frame keeps its window-relative position; this is how
        one dream of a batch restarts while the others go on.
        """
        if self.frames != self.size or other.frames != other.size or other.size != self.size:
            raise ValueError("copy_rows needs two full caches of the same size")
        if other.k[0].shape[0] != len(rows):
            raise ValueError(f"other cache has batch {other.k[0].shape[0]}, expected {len(rows)}")
        tok = self.tokens
        src = torch.argsort(other.age)  # slot of age 0, 1, ...
        dst = torch.argsort(self.age)
        for layer in range(len(self.k)):
            for s_slot, d_slot in zip(src.tolist(), dst.tolist(), strict=True):
                sl_s, sl_d = slice(s_slot * tok, (s_slot + 1) * tok), slice(d_slot * tok, (d_slot + 1) * tok)
                self.k[layer][rows, :, sl_d] = other.k[layer][:, :, sl_s]
                self.v[layer][rows, :, sl_d] = other.v[layer][:, :, sl_s]
        if self._last is not None and other._last is not None:
            self._last[rows] = other._last
            self._last_sigma[rows] = other._last_sigma
        self._rotated.clear()
        self.version += 1

    def reset(self) -> None:
        """Forget all frames (keeps the buffers)."""
        if self.age is not None:
            self.age.fill_(-1)
        self._trig = None
        self._rotated.clear()
        self.version += 1
        self._last = None
        self._last_sigma = None


class DoubledCache:
    """`KVCache.doubled()`: rows 0..b-1 and b..2b-1 both read the same cached frames (read only)."""

    def __init__(self, cache: KVCache):
        self.cache = cache
        self._rotated: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # copies of the cache at _version
        self._version = cache.version

    @property
    def frames(self) -> int:
        return self.cache.frames

    def check(self, b: int, n: int, model: SpacetimeDiT) -> None:
        if b % 2:
            raise ValueError(f"a doubled cache serves an even batch, got {b}")
        self.cache.check(b // 2, n, model)

    def rotated(self, layer: int, model: SpacetimeDiT, frame_pos: torch.Tensor):
        if self._version != self.cache.version:  # the cache was written since: drop the old copies
            self._rotated.clear()
            self._version = self.cache.version
        if layer not in self._rotated:
            kv = self.cache.rotated(layer, model, frame_pos)
            if kv is None:
                return None
            self._rotated[layer] = (torch.cat([kv[0], kv[0]]), torch.cat([kv[1], kv[1]]))
        return self._rotated[layer]

    def last(self) -> torch.Tensor:
        z = self.cache.last()
        return torch.cat([z, z])

    def last_sigma(self) -> torch.Tensor:
        s = self.cache.last_sigma()
        return torch.cat([s, s])

    def stage(self, layer: int, kv) -> None:
        raise RuntimeError("a doubled cache is read only: write frames through the cache itself")
