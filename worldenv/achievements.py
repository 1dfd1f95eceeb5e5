"""The game's reward rule applied to dreams: an achievement pays +1 only the first time it is
unlocked in an episode, plus the rest of the game's reward.

The world's heads predict *that* an achievement unlocked and *which* one; the episode memory of
what is already unlocked lives here, in the env, because the model only sees its last few frames.
Worlds whose heads do not name achievements keep the model's own per-step reward.

A dream is a new episode even when it starts mid-way through a recorded one: achievements the
recording had already earned before the start clip pay again in the dream.
"""

from __future__ import annotations

import numpy as np


class FirstUnlockRewards:
    """Per-episode unlocked sets for `n` dreams and the reward they turn a rollout step into."""

    def __init__(self, n: int, names: list[str]):
        self.names = list(names)
        self.unlocked: list[set[str]] = [set() for _ in range(n)]

    def reset(self, rows=None) -> None:
        """Forget what dreams `rows` (all by default) unlocked: their episodes start anew."""
        for i in range(len(self.unlocked)) if rows is None else rows:
            self.unlocked[i] = set()

    def rewards(self, result, events: list[list[str]] | None = None,
                health_reward: np.ndarray | None = None) -> tuple[np.ndarray, list[str | None]]:
        """(b,) rewards of a `StepResult` and the achievement each dream newly unlocked (or None).

        With `events` the achievements come from the game's rules (`events[i]`: dream i's this
        step, e.g. from a game's `DreamRules`) rather than the heads: the heads' own unlock is
        dropped and only the rest of their reward kept, or with `health_reward` (b,) the rules' own."""
        if events is not None:
            if health_reward is not None:
                rewards = np.asarray(health_reward, np.float64).copy()
            else:
                rewards = result.rewards.astype(np.float64) - (result.unlock_prob > 0.5)
            first: list[str | None] = []
            for i, names in enumerate(events):
                fresh = [n for n in dict.fromkeys(names) if n not in self.unlocked[i]]
                self.unlocked[i].update(fresh)
                rewards[i] += len(fresh)
                first.append(fresh[0] if fresh else None)
            return rewards, first
        if not self.names or result.achievement is None:
            return result.rewards.astype(np.float64), [None] * len(result.rewards)
        # A named achievement (index >= 0) is exactly a predicted unlock, which `rewards` paid +1 for.
        rewards = result.rewards.astype(np.float64) - (result.achievement >= 0)  # the health change alone
        new: list[str | None] = []
        for i, a in enumerate(result.achievement):
            name = self.names[a] if a >= 0 else None
            if name is not None and name not in self.unlocked[i]:
                self.unlocked[i].add(name)
                rewards[i] += 1.0
                new.append(name)
            else:
                new.append(None)
        return rewards, new
