"""Action controllability: does a dreamed move move the view the way the player stepped?

From real states, each of the 4 moves is dreamed for one step and an inverse-dynamics check
(`view_shift`) recovers the move from the shift of the parsed tiles. Moves the game would allow
(the target tile is walkable) count towards the move accuracy; moves it would refuse (the game
only turns the player, or ignores the move in sleep) should leave the view still: `blocked_still`
is the share that do. Moves in a view where a step looks like standing still (`move_visible`)
are left out of both and counted as ambiguous.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from model.rollout import WorldModel
from worldenv.games.crafter.env import PLAYER_MOVES
from worldenv.games.crafter.evaluation.dreams import start_dreams

WALKABLE = (2, 4, 5)  # grass, path, sand: tiles the player can step onto


def view_shift(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """The player move (dx, dy) that best explains the change of local-view tiles (7, 9)."""
    best, best_score = (0, 0), -1.0
    rows, cols = before.shape
    for dx, dy in [(0, 0), *PLAYER_MOVES.values()]:
        # the view moves with the player: after[r, c] == before[r + dy, c + dx]
        r0, r1 = max(0, -dy), rows - max(0, dy)
        c0, c1 = max(0, -dx), cols - max(0, dx)
        a = after[r0:r1, c0:c1]
        b = before[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
        keep = np.ones_like(a, bool)
        keep[rows // 2 - r0, cols // 2 - c0] = False  # the player's own tile
        score = float((a == b)[keep].mean())
        if score > best_score + 1e-9:
            best, best_score = (dx, dy), score
    return best


def move_visible(tiles: np.ndarray, dx: int, dy: int) -> bool:
    """Whether a step (dx, dy) would change the local-view tiles (rows, cols) at all where both views
    overlap: in a uniform field (all grass) a step and standing still look alike, and `view_shift`
    cannot tell which the dream did. The player's tile, before and after, is left out."""
    rows, cols = tiles.shape
    r0, r1 = max(0, -dy), rows - max(0, dy)
    c0, c1 = max(0, -dx), cols - max(0, dx)
    moved, still = tiles[r0 + dy : r1 + dy, c0 + dx : c1 + dx], tiles[r0:r1, c0:c1]
    keep = np.ones(moved.shape, bool)
    for r, c in ((rows // 2, cols // 2), (rows // 2 - dy, cols // 2 - dx)):
        if r0 <= r < r1 and c0 <= c < c1:
            keep[r - r0, c - c0] = False
    return bool((moved != still)[keep].any())


def controllability(world: WorldModel, parser, clips, acts, k: int, steps: int, seed: int,
                    roll_kw: dict | None = None, asleep: np.ndarray | None = None,
                    rules: Sequence[str] = ()) -> dict:
    """Share of dreamed moves whose direction the inverse-dynamics check recovers, over the moves
    the game would allow; and the share of the moves it would refuse (the target tile cannot be
    entered, or the player sleeps at the start: `asleep` (b,) bool) where the dream kept the view still.
    Moves in a field where a step looks like standing still (`move_visible`) are left out of both and
    counted as `ambiguous`. The dreams run under the fidelity's `rules`; the clock alone keeps no
    sleep, so the refused moves are also split by cause (`blocked_by_cause`: terrain, asleep)."""
    b = len(clips)
    start_tiles = parser.parse(clips[:, k - 1]).tiles
    rows, cols = start_tiles.shape[1:]
    correct = total = 0
    per_action = {}
    # how the misses fail: the view did not move at all, or moved the wrong way
    outcomes = {"right": 0, "none": 0, "wrong": 0}
    # moves into a tile the player cannot enter: the game only turns the player, the view stays;
    # in sleep the game ignores moves
    blocked = blocked_still = ambiguous = 0
    by_cause = {"terrain": [0, 0], "asleep": [0, 0]}  # refused moves, of them kept still
    asleep = np.zeros(b, bool) if asleep is None else asleep
    for action, (dx, dy) in PLAYER_MOVES.items():
        roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, rules)
        gen = parser.parse(roll.step(np.full(b, action)).frames).tiles
        ok = n = 0
        for i in range(b):
            if not move_visible(start_tiles[i], dx, dy):
                ambiguous += 1
                continue
            target = start_tiles[i, rows // 2 + dy, cols // 2 + dx]
            if target not in WALKABLE or asleep[i]:  # the real game would only turn the player
                still = view_shift(start_tiles[i], gen[i]) == (0, 0)
                blocked += 1
                blocked_still += still
                cause = by_cause["asleep" if asleep[i] else "terrain"]
                cause[0], cause[1] = cause[0] + 1, cause[1] + still
                continue
            n += 1
            got = view_shift(start_tiles[i], gen[i])
            ok += got == (dx, dy)
            outcomes["right" if got == (dx, dy) else "none" if got == (0, 0) else "wrong"] += 1
        per_action[str(action)] = ok / max(1, n)
        correct += ok
        total += n
    return {"move_accuracy": correct / max(1, total), "cases": total, "per_action": per_action,
            "outcomes": outcomes, "blocked_still": blocked_still / max(1, blocked), "blocked_cases": blocked,
            "blocked_by_cause": {why: {"cases": n, "kept_still": still / n if n else None}
                                 for why, (n, still) in by_cause.items()},
            "ambiguous": ambiguous}
