"""MoveGate: does a move action move the view, or does something block it?

A world whose DiT sees the previous frame moved with each move (`DiTConfig.view_moves`) learns
"a move moves": a 2D game may refuse a share of moves (e.g. ~15 %: a tree, water, stone or a
creature in the way; any move in sleep) and only turn the player, yet the dream walked through
them (docs/design.md, "Refused moves"). Whether a move goes through is a question about one tile
next to the player, which a small convolutional classifier answers from the last frame's latent
far better than a diffusion model that must also draw the frame.

    logit = MoveGate(z (b, c, h, w) clean latent of the frame the move starts from, action (b, A))
    p(refused) = sigmoid(logit)        (meaningful for the move actions only)

It is trained on a latent cache with labels from the recordings (`model.move_gate_training`,
`latent_cache.refused_move_frames`) and stored beside a world's DiT as `move_gate.safetensors`.
In a dream, a move it calls refused keeps the view still: the DiT gets the unmoved previous frame
as its moved input (`SpacetimeDiT.moved(..., stay=)`) and sampling starts from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.checkpoint import CheckpointError, load_checkpoint, load_state_strict, save_checkpoint

KIND = "MoveGate"


@dataclass
class MoveGateConfig:
    """Shape of the gate: the latent layout it reads and the move actions it judges."""

    latent_channels: int = 16
    latent_hw: tuple[int, int] = (9, 9)  # the grid it was trained on: positions matter (the player's tile)
    moves: tuple[int, ...] = (1, 2, 3, 4)  # values of the action's first part that move the view
    width: int = 64

    def __post_init__(self):
        self.latent_hw = tuple(int(x) for x in self.latent_hw)
        self.moves = tuple(int(m) for m in self.moves)
        if not self.moves or len(set(self.moves)) != len(self.moves):
            raise ValueError(f"moves must name distinct move actions, got {self.moves}")


class MoveGate(nn.Module):
    """Per move action, the logit that the move is refused, from the latent it starts from."""

    KIND = KIND  # checkpoint kind

    def __init__(self, cfg: MoveGateConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MoveGateConfig()
        w = cfg.width
        self.convs = nn.Sequential(
            nn.Conv2d(cfg.latent_channels, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w // 2, 1), nn.GELU(),
        )
        h, wd = cfg.latent_hw
        # flattened, not pooled: the tile that matters is at a fixed place (next to the player)
        self.out = nn.Sequential(nn.Linear(w // 2 * h * wd, 256), nn.GELU(), nn.Linear(256, len(cfg.moves)))

    def forward(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z (b, c, h, w), actions (b, A) or (b,) -> (b,) logit of "refused"; -inf for non-moves."""
        if z.ndim != 4 or z.shape[1] != self.cfg.latent_channels or tuple(z.shape[2:]) != self.cfg.latent_hw:
            raise ValueError(f"MoveGate takes latents (b, {self.cfg.latent_channels}, {self.cfg.latent_hw[0]}, "
                             f"{self.cfg.latent_hw[1]}), got {tuple(z.shape)}")
        first = actions[:, 0] if actions.ndim == 2 else actions
        if first.shape != (z.shape[0],):
            raise ValueError(f"actions must be ({z.shape[0]},) or ({z.shape[0]}, A), got {tuple(actions.shape)}")
        logits = self.out(self.convs(z.float()).flatten(1))  # (b, moves)
        moves = torch.tensor(self.cfg.moves, device=z.device)
        hit = first[:, None] == moves[None]
        picked = (logits * hit).sum(1)
        return torch.where(hit.any(1), picked, torch.full_like(picked, float("-inf")))

    def refused(self, z: torch.Tensor, actions: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """(b,) bool: move actions the gate calls refused (False for every other action)."""
        return torch.sigmoid(self.forward(z, actions)) > threshold

    def save(self, path: str | Path, **meta) -> None:
        save_checkpoint(path, self.state_dict(), self.KIND, self.cfg, **meta)

    @classmethod
    def load(cls, path: str | Path, latent_channels: int | None = None) -> tuple["MoveGate", dict]:
        """Load a gate; `latent_channels` (the world's) is checked against the gate's."""
        tensors, meta = load_checkpoint(path, cls.KIND)
        try:
            cfg = MoveGateConfig(**meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: not a valid {cls.KIND} config: {e}") from None
        if latent_channels is not None and cfg.latent_channels != latent_channels:
            raise CheckpointError(f"{path}: the gate reads {cfg.latent_channels} latent channels, the world's "
                                  f"latents have {latent_channels}")
        gate = cls(cfg)
        load_state_strict(gate, tensors, str(path))
        return gate.eval(), meta


def gate_loss(gate: MoveGate, z: torch.Tensor, actions: torch.Tensor, refused: torch.Tensor,
              pos_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy on move samples: z (b, c, h, w), actions (b, A), refused (b,) bool."""
    logit = gate(z, actions)
    w = torch.where(refused, torch.full_like(logit, pos_weight), torch.ones_like(logit))
    return F.binary_cross_entropy_with_logits(logit, refused.float(), weight=w)

