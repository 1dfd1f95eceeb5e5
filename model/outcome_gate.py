"""OutcomeGate: does an attempt (do, sleep, place, make) do what it tries, or does the game refuse it?

In Crafter most presses of `make_wood_sword` fail (no wood, no table in reach) and a `do` only
collects when it faces something collectable. That is decided by a tile or two next to the player
and a few inventory counts: a question for a small classifier on the last frame's latent, as
for refused moves (`MoveGate`, whose network and checkpoint format this reuses). A diffusion model
that only sees the action averages it instead: over recordings where most presses fail, every
press draws a small chance of a sword, which a policy in the dream learns to farm (README, stop 21).

    logit = OutcomeGate(z (b, c, h, w) clean latent of the frame the attempt starts from, action (b, A))
    p(failed) = sigmoid(logit)        (meaningful for the attempt actions only)

In a dream the outcome is *sampled* from the gate, so chance outcomes stay chance (a sapling from
grass: 10 % per `do` in Crafter) instead of being averaged away, and the DiT is to draw it through
its outcome token (`DiTConfig.outcomes`). Measured in stop 22 (README, Results): the gate decides
right 97.7 % of the time, but a DiT fine-tuned 7000 steps with the token barely follows it yet.
Trained by `train_move_gate.py --judge attempts` on the labels of `latent_cache.outcome_labels`;
stored beside a world's DiT as `outcome_gate.safetensors`.
"""

from __future__ import annotations

import torch

from model.latent_cache import OUTCOME_DONE, OUTCOME_FAILED, OUTCOME_NONE
from model.move_gate import MoveGate


class OutcomeGate(MoveGate):
    """Per attempt action (its config's `moves` field names them), the logit that it fails."""

    KIND = "OutcomeGate"

    def judged(self, actions: torch.Tensor) -> torch.Tensor:
        """(b,) bool for actions (b, A) or (b,): the attempts this gate judges."""
        first = actions[:, 0] if actions.ndim == 2 else actions
        return torch.isin(first, torch.tensor(self.cfg.moves, device=actions.device))

    def p_done(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(b,) probability that the attempt succeeds; 0 for actions the gate does not judge."""
        p = 1 - torch.sigmoid(self.forward(z, actions))
        return torch.where(self.judged(actions), p, torch.zeros_like(p))

    def sample(self, z: torch.Tensor, actions: torch.Tensor, generators: list[torch.Generator] | None = None,
               floor: float = 0.0) -> torch.Tensor:
        """(b,) int64 outcome classes: OUTCOME_DONE with probability p_done (below `floor`: never),
        OUTCOME_FAILED otherwise, OUTCOME_NONE for actions the gate does not judge. Row i draws from
        `generators[i]` (one per dream, so a batch draws like lone dreams); None = argmax."""
        judged = self.judged(actions)
        p = torch.where(judged, 1 - torch.sigmoid(self.forward(z, actions)), 0.0)
        if generators is None:
            done = p > 0.5
        else:
            if len(generators) != len(p):
                raise ValueError(f"need one generator per row ({len(p)}), got {len(generators)}")
            u = torch.cat([torch.rand(1, generator=g, device=z.device) for g in generators])
            done = (u < p) & (p >= floor)
        out = torch.where(done, OUTCOME_DONE, OUTCOME_FAILED)
        return torch.where(judged, out, torch.full_like(out, OUTCOME_NONE))
