"""Which places of a scored view a prompt showed, from Crafter recordings' own map.

Crafter's worlds are drawn at random per seed, so a tile at a place no prompt frame showed can only
be guessed. The recorder writes the game's tile map of the local view and the player's position
with every frame (jsonl `tiles`, `player_pos`); from them, without video or model, these functions
say which tiles of the view at horizon k stood at a place the prompt showed. The fidelity
(`fidelity.teacher_forced`) splits its tile accuracy by it, and `novelty` reports the shares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.recordings import read_jsonl


def episode_maps(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(tiles (T, rows, cols) int, player positions (T, 2) int) of one recording; a clear error when
    the jsonl lacks the game's tile map (recordings of another game, or before it was recorded)."""
    records = read_jsonl(Path(folder) / f"{name}.jsonl")
    if not records or any("tiles" not in r or "player_pos" not in r for r in records):
        raise ValueError(f"{folder}/{name}.jsonl: records without 'tiles' and 'player_pos' (Crafter recordings "
                         "by soraworld-collect hold both)")
    return np.array([r["tiles"] for r in records]), np.array([r["player_pos"] for r in records])


def view_corner(pos: np.ndarray, rows: int, cols: int) -> tuple[int, int]:
    """World (x, y) of the top-left tile of a view of rows x cols with the player, at `pos`, at its centre."""
    return int(pos[0] - cols // 2), int(pos[1] - rows // 2)


def shown_places(tiles: np.ndarray, pos: np.ndarray, context: int):
    """The world places the first `context` views (tiles (T, rows, cols), positions (T, 2)) showed:
    ({(x, y): tile id last shown there}, places (m, 2), ids (m,))."""
    rows, cols = tiles.shape[1:]
    shown: dict[tuple[int, int], int] = {}
    for t in range(context):
        x0, y0 = view_corner(pos[t], rows, cols)
        for r in range(rows):
            for c in range(cols):
                shown[(x0 + c, y0 + r)] = int(tiles[t, r, c])
    return shown, np.array(list(shown), np.int64), np.array(list(shown.values()))


def nearest_shown(places: np.ndarray, place: tuple[int, int]) -> tuple[int, np.ndarray]:
    """Index of the shown place (`places` (m, 2)) nearest to `place` (Euclidean; the first of ties),
    and the squared distances (m,) of all of them."""
    d2 = ((places - place) ** 2).sum(1)
    return int(d2.argmin()), d2


def prompt_places(tiles: np.ndarray, pos: np.ndarray, context: int, horizon: int):
    """(seen, same, nearest), each (rows, cols) bool, of the view at frame `context + horizon - 1` of
    a clip (tiles (T, rows, cols), player positions (T, 2) as (x, y), the player at the view's
    centre): the tiles at world places the first `context` frames showed; those of them that hold
    what the last of those frames to show the place showed there; and the unseen tiles that hold
    what the nearest place those frames showed held (a guess of unseen terrain from seen terrain:
    Crafter's lakes, forests and mountains span many tiles)."""
    rows, cols = tiles.shape[1:]
    shown, places, ids = shown_places(tiles, pos, context)
    x0, y0 = view_corner(pos[context + horizon - 1], rows, cols)
    seen, same, nearest = (np.zeros((rows, cols), bool) for _ in range(3))
    for r in range(rows):
        for c in range(cols):
            place, now = (x0 + c, y0 + r), int(tiles[context + horizon - 1, r, c])
            was = shown.get(place)
            seen[r, c], same[r, c] = was is not None, was == now
            if was is None:
                nearest[r, c] = ids[nearest_shown(places, place)[0]] == now
    return seen, same, nearest


def prompts_places(data: str, drawn: list, context: int, horizons, history: int = 0, maps: dict | None = None) -> dict:
    """{horizon: (seen, same, nearest, tiles) each (len(drawn), rows, cols)} for the clips `drawn`
    ((episode info, first frame) pairs, `model.recordings.draw_windows`), prompted with up to `history`
    frames before each: `prompt_places`' masks and the game's tile ids of the scored frame."""
    out = {h: ([], [], [], []) for h in horizons}
    for h, tiles, pos, prompt in prompts(data, drawn, context, horizons, history, "prompted places", maps):
        masks = prompt_places(tiles, pos, prompt, h)
        for acc, m in zip(out[h], (*masks, tiles[prompt + h - 1]), strict=True):
            acc.append(m)
    return {h: tuple(np.array(m) for m in masks) for h, masks in out.items()}


def prompts(data: str, drawn: list, context: int, horizons, history: int, desc: str, maps: dict | None):
    """(horizon, tiles, positions, prompt length) per drawn clip and horizon: the episode's map from
    the first prompt frame on (up to `history` frames before the clip), and the prompt's length.
    `maps` ({episode name: `episode_maps`}) keeps the maps read for the next pass over the same clips."""
    maps = {} if maps is None else maps
    for info, s in tqdm(drawn, desc=desc, unit="clip", leave=False):
        if info.name not in maps:
            maps[info.name] = episode_maps(data, info.name)
        tiles, pos = maps[info.name]
        first = max(0, s - history)
        for h in horizons:
            yield h, tiles[first:], pos[first:], s - first + context
