"""Teacher-forced fidelity: dreams from real frames with the real actions, scored against the game.

From each clip's first k real frames, the real actions are fed and the world generates without
seeing real frames again; frame k + h - 1 is compared with the real one at each horizon h (PSNR,
tile accuracy, inventory accuracy), next to the same for the baseline that repeats the last real
frame. Tile accuracy is also split by the real frame's light (day / Crafter's grainy night), by
the action into the first dreamed frame (a move or not), and by whether the prompt showed the place
(`places`); each tile class's share of the views is given for the game and the dream.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from model.metrics import psnr
from model.rollout import WorldModel
from worldenv.games.crafter.env import PLAYER_MOVES
from worldenv.games.crafter.evaluation.dreams import start_dreams
from worldenv.games.crafter.parse import CLASS_NAMES


def class_shares(real: np.ndarray, dream: np.ndarray) -> dict:
    """Each tile class's share of the tiles in `real` and in `dream` (any shapes of class ids), for
    the classes either holds: {name: {"real": share, "dream": share}}."""
    rc = np.bincount(real.ravel(), minlength=len(CLASS_NAMES)) / max(1, real.size)
    dc = np.bincount(dream.ravel(), minlength=len(CLASS_NAMES)) / max(1, dream.size)
    return {CLASS_NAMES[c]: {"real": float(rc[c]), "dream": float(dc[c])} for c in np.flatnonzero((rc > 0) | (dc > 0))}


def teacher_forced(world: WorldModel, parser, clips, acts, k: int, horizons, steps: int, seed: int,
                   roll_kw: dict | None = None, rules: Sequence[str] = (), prompts: list | None = None,
                   places: dict | None = None):
    """Generate `max(horizons)` frames from each clip's first k real frames with the real actions,
    under the game's `rules` (`dreams.start_dreams`): with "inventory", the items by the game's
    rules as the dream env keeps them (`InventoryLedger`); with "daylight", the day and night by
    the game's clock (`CrafterClock`); with "terrain" (and "inventory") also the terrain by the
    rules and the memory of the world seen (`TerrainKeeper`, `WorldMemory`). `prompts` (one
    (frames, actions) per clip, `load_starts(history=)`) are longer prompt videos ending with the
    clip's context: the DiT is given their last k frames as always, the game's rules (the memory
    of the world seen, the clock) all of them. `places` ({horizon: (seen, ...)},
    `places.prompts_places`) split each horizon's tile accuracy by whether the prompt showed the
    place. Returns (metrics by horizon, the dreamed frames (b, H, h, w, 3))."""
    roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, rules, prompts)
    H = max(horizons)
    dream = []
    for t in range(H):
        dream.append(roll.step(acts[:, k + t]).frames)
    dream = np.stack(dream, 1)  # (b, H, h, w, 3)

    def metrics(real, pr, pf, fake):
        return {"psnr_db": float(psnr(real, fake).mean()), "tile_accuracy": float((pr.tiles == pf.tiles).mean()),
                "inventory_accuracy": float((pr.inventory == pf.inventory).mean())}

    out = {}
    last = clips[:, k - 1]  # what the repeat-last baseline shows at every horizon
    pl = parser.parse(last)
    for h in horizons:
        real, fake = clips[:, k + h - 1], dream[:, h - 1]
        pr, pf = parser.parse(real), parser.parse(fake)
        # baseline: a "world model" that repeats the last real frame; a model must beat it
        out[str(h)] = {**metrics(real, pr, pf, fake), "repeat_last": metrics(real, pr, pl, last)}
        hit, hit_last = pr.tiles == pf.tiles, pr.tiles == pl.tiles

        def split(groups, hit=hit, hit_last=hit_last):  # tile accuracy of both on each group of frames
            return {kind: {"frames": int(rows.sum()), "model": float(hit[rows].mean()),
                           "repeat_last": float(hit_last[rows].mean())}
                    for kind, rows in groups if rows.any()}

        # what the views hold, game against dream: a dream can score well on tiles by drawing the
        # common class (grass) where it is unsure, and drift into a grassland the game does not show
        out[str(h)]["view_class_share"] = class_shares(pr.tiles, pf.tiles)
        # split by the light of the real frame: Crafter's night (daylight < 0.5) has per-frame grain
        night = pr.daylight < 0.5
        out[str(h)]["tile_accuracy_by_light"] = split((("day", ~night), ("night", night)))
        seen = None if places is None else places[h][0]
        if seen is not None and seen.shape == hit.shape:  # places the prompt showed, which a dream can keep
            out[str(h)]["tile_accuracy_by_place"] = {
                kind: {"share": float(m.mean()), "model": float(hit[m].mean()) if m.any() else None,
                       "repeat_last": float(hit_last[m].mean()) if m.any() else None}
                for kind, m in (("seen", seen), ("unseen", ~seen))}
        if h == 1:  # split by the action into the frame: a move shifts the view, the other
            # actions mostly keep it, where a model should lose little more than repeat_last does
            move = np.isin(acts[:, k, 0], list(PLAYER_MOVES))
            out["1"]["tile_accuracy_after"] = split((("move", move), ("other", ~move)))
            out["1"]["tile_accuracy_after_by_light"] = split(
                ((f"{a}, {b}", ra & rb) for a, ra in (("move", move), ("other", ~move))
                 for b, rb in (("day", ~night), ("night", night))))
    return out, dream
