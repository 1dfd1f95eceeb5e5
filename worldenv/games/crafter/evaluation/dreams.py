"""Held-out windows to dream from, and the dreams started from them under the game's rules.

Every measure of the evaluation dreams from real windows of held-out recordings (`load_starts`)
and scores the dreams under the rules asked for (`start_dreams`): Crafter's "daylight" (the game's
clock), "inventory" (the ledger: items, vitals and sleep by the game's rules) and "terrain" (the
tiles the rules keep, and the memory of the world seen). The fidelity and the moves dream under all
of them; the one-step strips and the random-action stability run under the clock alone
(`clock_rules`).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from tqdm import tqdm

from model.data import actions_into_frames, episode_arrays
from model.recordings import draw_windows
from model.rollout import DreamRollout, WorldModel
from worldenv.worlds import make_rules, rule_names, world_game

# the rules that keep the game's clock only: the strips and the stability dream under these alone
CLOCK_RULES = ("daylight",)


class Starts(NamedTuple):
    """Held-out windows to dream from (`load_starts`)."""

    frames: np.ndarray  # (n, k + horizon, H, W, 3) uint8
    actions: np.ndarray  # (n, k + horizon, A): the action into each frame
    asleep: np.ndarray  # (n,) bool: the player sleeps at the last context frame (the game ignores moves)
    prompts: list | None  # with history: per window (frames (m + k, H, W, 3), actions (m + k, A)); else None


def load_starts(data: str, k: int, horizon: int, n: int, seed: int, per_episode: int = 1,
                history: int = 0) -> Starts:
    """The windows of k + horizon frames `draw_windows` draws from the episodes of `data`, `per_episode`
    from each episode drawn: (frames, actions into each frame) of each, and whether the
    player sleeps at each window's last context frame (k - 1; jsonl `sleeping`, False where not
    recorded). With `history` > 0 also each window's prompt: up to `history` real frames before it
    and its k context frames, with the actions into them (m = min(history, first frame))."""
    clips, acts, asleep, prompts = [], [], [], []
    ep = name = None
    for info, s in draw_windows(data, k + horizon, n, seed, per_episode):
        if name != info.name:
            ep, name = episode_arrays(data, info), info.name
            into = actions_into_frames(ep.actions)
        clips.append(ep.frames[s : s + k + horizon])
        acts.append(into[s : s + k + horizon])
        asleep.append(ep.sleeping[s + k - 1])
        if history > 0:
            prompts.append((ep.frames[max(0, s - history) : s + k], into[max(0, s - history) : s + k]))
    return Starts(np.stack(clips), np.stack(acts), np.array(asleep, bool), prompts if history > 0 else None)


def default_rules(world: WorldModel) -> tuple[str, ...]:
    """The rules the evaluation dreams under unless told: the game's clock where the world's game
    keeps one (as the dream env shows a Crafter world's nights), else none."""
    game = world_game(world)
    return tuple(r for r in CLOCK_RULES if game is not None and r in game.rule_names)


def evaluation_rules(world: WorldModel, rules: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """`rules` as the names of the world's game's rules: None for `default_rules`, "game" for the
    game's default rules (as the dream env plays), "none", or a list of names (checked)."""
    if rules is None:
        return default_rules(world)
    return rule_names(world_game(world), rules)


def clock_rules(rules: Sequence[str]) -> tuple[str, ...]:
    """Of `rules`, the ones that keep the game's clock (`CLOCK_RULES`)."""
    return tuple(r for r in rules if r in CLOCK_RULES)


def reward_step(world: WorldModel) -> float | None:
    """The grid the world's game pays its non-achievement rewards on (None: no game named)."""
    game = world_game(world)
    return game.reward_step() if game is not None else None


def start_dreams(world: WorldModel, clips, acts, k: int, steps: int, seed: int, roll_kw: dict | None = None,
                 rules: Sequence[str] = (), prompts=None) -> DreamRollout:
    """Dreams (one per clip) started from the clips' first k frames and actions, under the game's
    `rules` (rule names; none: the DiT alone). Dream i's rule draws are seeded `seed + i`.
    `prompts` (one (frames, actions) per clip, of any length) give the rules longer prompts than
    the DiT's k frames."""
    b = len(clips)
    dream_rules = make_rules(world, b, list(rules))
    roll = DreamRollout(world, batch=b, steps=steps, seed=seed, rules=dream_rules, reward_step=reward_step(world),
                        **(roll_kw or {}))
    roll.reset(clips[:, :k], acts[:, :k])
    if dream_rules is not None and prompts is None:
        dream_rules.reset(range(b), clips[:, :k], acts[:, :k], [seed + i for i in range(b)])
    elif dream_rules is not None:  # prompts differ in length: one dream at a time
        for i, (frames, actions) in enumerate(tqdm(prompts, desc="prompts", unit="prompt", leave=False)):
            dream_rules.reset([i], frames[None], actions[None], [seed + i])
    return roll
