"""Fresh strips: the row or column of view a step brings in, which the dream must draw from nothing.

A step into a walkable tile brings a strip of view the last frame never showed. From real states,
the real move is dreamed for one step and the share of each tile class in that strip is compared
with the game's: tile accuracy cannot show this (the strip is a guess either way), but a world that
draws too few trees there runs out of them over a long dream (docs/results/world.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from model.latents import uncovered_cells
from model.rollout import WorldModel
from worldenv.games.crafter.env import PLAYER_MOVES
from worldenv.games.crafter.evaluation.controllability import view_shift
from worldenv.games.crafter.evaluation.dreams import start_dreams
from worldenv.games.crafter.evaluation.fidelity import class_shares


def fresh_strips(world: WorldModel, parser, clips, acts, k: int, steps: int, seed: int,
                 roll_kw: dict | None = None, rules: Sequence[str] = ()) -> dict:
    """Tile classes of the strip a move brings into view, game against dream (see module docstring):
    from each clip's k real frames, its real next action is dreamed for one step (under `rules`);
    clips whose action is a move the game carried out (the real view shifted that way) count. Per
    class: its share of the strip's tiles in the real frames and in the dreamed ones."""
    b = len(clips)
    roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, rules)
    dream = parser.parse(roll.step(acts[:, k]).frames).tiles
    before, real = parser.parse(clips[:, k - 1]).tiles, parser.parse(clips[:, k]).tiles
    rows, cols = real.shape[1:]
    real_cells, dream_cells = [], []
    for i in range(b):
        move = PLAYER_MOVES.get(int(acts[i, k, 0]))
        if move is None or view_shift(before[i], real[i]) != move:
            continue
        # the view's content shifts against the step: the edge the player walks toward is new
        cells = uncovered_cells(rows, cols, -move[0], -move[1]).numpy()
        real_cells.append(real[i][cells])
        dream_cells.append(dream[i][cells])
    if not real_cells:
        return {"moves": 0, "tiles": 0, "share": {}}
    r, d = np.concatenate(real_cells), np.concatenate(dream_cells)
    return {"moves": len(real_cells), "tiles": int(len(r)), "tile_accuracy": float((r == d).mean()),
            "share": class_shares(r, d)}
