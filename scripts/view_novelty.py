"""How much of the view at horizon k the start clip never showed, on Crafter recordings.

    python scripts/view_novelty.py --data data/crafter72_heldout --horizons 1 8 32 128

Teacher-forced fidelity (scripts/evaluate.py) gives a world model the first `context` real frames
of a clip and the real actions, and scores frame `context + k - 1` tile by tile. A tile whose place
in the world no context frame showed is one the model can only guess: Crafter's world is drawn at
random per seed. This reads the game's own tile map and player position from the recordings' jsonl
(no video, no model) and reports, per horizon, the share of the view's tiles that are:
- `seen`: at a world place some context frame showed;
- `seen_same`: seen, and the same material or creature as the last context frame showed there
  (what a model that remembered the clip perfectly and knew nothing changed would get right);
- `unseen_grass`: unseen and grass, the commonest tile (what drawing grass there gets right);
- `unseen_nearest`: unseen and what the nearest place the clip showed held (a guess of unseen
  terrain from the terrain seen, which spans many tiles in Crafter).
`seen_same + unseen_grass` (or `+ unseen_nearest`) is the score of a dream that keeps all it saw
and draws grass (or the nearest seen tile) elsewhere; a model beats them only by guessing unseen
terrain from the clip better, or by knowing what changed. The starts are drawn as evaluate.py
draws them (`draw_windows`: same seed, same order), so the numbers sit next to its table;
`--history` counts the frames of a longer prompt (evaluate.py --history) as seen too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.recordings import draw_windows, list_episodes, read_jsonl  # noqa: E402

GRASS = 2  # crafter's semantic id of grass
OUTSIDE = -1  # the recorder's id of a place outside the world


def episode_maps(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(tiles (T, rows, cols) int, player positions (T, 2) int) of one recording; a clear error when
    the jsonl lacks the game's tile map (recordings of another game, or before it was recorded)."""
    records = read_jsonl(Path(folder) / f"{name}.jsonl")
    if not records or any("tiles" not in r or "player_pos" not in r for r in records):
        raise ValueError(f"{folder}/{name}.jsonl: records without 'tiles' and 'player_pos' (Crafter recordings "
                         "by scripts/collect.py hold both)")
    return np.array([r["tiles"] for r in records]), np.array([r["player_pos"] for r in records])


def prompt_places(tiles: np.ndarray, pos: np.ndarray, context: int, horizon: int):
    """(seen, same, nearest), each (rows, cols) bool, of the view at frame `context + horizon - 1` of
    a clip (tiles (T, rows, cols), player positions (T, 2) as (x, y), the player at the view's
    centre): the tiles at world places the first `context` frames showed; those of them that hold
    what the last of those frames to show the place showed there; and the unseen tiles that hold
    what the nearest place those frames showed held (a guess of unseen terrain from seen terrain:
    Crafter's lakes, forests and mountains span many tiles)."""
    rows, cols = tiles.shape[1:]
    oy, ox = rows // 2, cols // 2
    shown: dict[tuple[int, int], int] = {}  # world place -> tile id last shown there
    for t in range(context):
        x0, y0 = pos[t] - (ox, oy)
        for r in range(rows):
            for c in range(cols):
                shown[(int(x0 + c), int(y0 + r))] = int(tiles[t, r, c])
    places, ids = np.array(list(shown), np.int64), np.array(list(shown.values()))
    t = context + horizon - 1
    x0, y0 = pos[t] - (ox, oy)
    seen, same, nearest = (np.zeros((rows, cols), bool) for _ in range(3))
    for r in range(rows):
        for c in range(cols):
            place, now = (int(x0 + c), int(y0 + r)), int(tiles[t, r, c])
            was = shown.get(place)
            seen[r, c], same[r, c] = was is not None, was == now
            if was is None:  # the nearest shown place (Euclidean; the first of ties)
                near = ((places - place) ** 2).sum(1).argmin()
                nearest[r, c] = ids[near] == now
    return seen, same, nearest


def novelty_shares(seen: np.ndarray, same: np.ndarray, nearest: np.ndarray, tiles: np.ndarray) -> dict:
    """The shares of views (any leading shape, (..., rows, cols)) that were `seen`, seen and the
    `same`, unseen and what the `nearest` seen place held, or unseen and grass in `tiles` (see
    module docstring)."""
    grass = ~seen & (tiles == GRASS)
    return {"seen": float(seen.mean()), "seen_same": float(same.mean()), "unseen_grass": float(grass.mean()),
            "unseen_nearest": float(nearest.mean())}


def prompts_places(data: str, drawn: list, context: int, horizons, history: int = 0) -> dict:
    """{horizon: (seen, same, nearest, tiles) each (len(drawn), rows, cols)} for the clips `drawn`
    ((episode info, first frame) pairs, `model.recordings.draw_windows`), prompted with up to `history`
    frames before each: `prompt_places`' masks and the game's tile ids of the scored frame."""
    maps, out = {}, {h: ([], [], [], []) for h in horizons}
    for info, s in tqdm(drawn, desc="prompted places", unit="clip", leave=False):
        if info.name not in maps:
            maps[info.name] = episode_maps(data, info.name)
        tiles, pos = maps[info.name]
        first = max(0, s - history)
        for h in horizons:
            masks = prompt_places(tiles[first:], pos[first:], s - first + context, h)
            for acc, m in zip(out[h], (*masks, tiles[s + context + h - 1]), strict=True):
                acc.append(m)
    return {h: tuple(np.array(m) for m in masks) for h, masks in out.items()}


def view_novelty(data: str, horizons=(1, 8, 32, 128), starts: int = 48, context: int = 7, seed: int = 0,
                 history: int = 0) -> dict:
    """Per horizon: the shares of `novelty_shares` over the starts evaluate.py would score with
    `--starts starts --horizons <all of horizons> --history history` (one draw for the longest
    horizon, as it does); with `history`, up to that many frames before each clip count as seen too."""
    per_episode = -(-starts // len(list_episodes(data)))
    clips = draw_windows(data, context + max(horizons), starts, seed, per_episode)
    places = prompts_places(data, clips, context, horizons, history)
    out = {"data": data, "starts": len(clips), "context": context, "history": history, "seed": seed, "horizons": {}}
    for h in horizons:
        mean = novelty_shares(*places[h])
        mean["keep_seen_draw_grass"] = mean["seen_same"] + mean["unseen_grass"]
        mean["keep_seen_draw_nearest"] = mean["seen_same"] + mean["unseen_nearest"]
        out["horizons"][str(h)] = mean
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="Crafter recordings folder (scripts/collect.py's format)")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--starts", type=int, default=48, help="as evaluate.py's --starts")
    p.add_argument("--context", type=int, default=7, help="context frames (the world's window - 1)")
    p.add_argument("--seed", type=int, default=0, help="as evaluate.py's --seed")
    p.add_argument("--history", type=int, default=0, help="as evaluate.py's --history: frames before each clip "
                   "that count as seen too")
    p.add_argument("--out", default=None, help="write the result here as JSON")
    a = p.parse_args(argv)
    if a.context < 1 or min(a.horizons) < 1 or a.starts < 1 or a.history < 0:
        p.error("--context, --horizons and --starts must be >= 1, --history >= 0")
    r = view_novelty(a.data, tuple(a.horizons), a.starts, a.context, a.seed, a.history)
    print(f"{r['starts']} starts, {r['context']} context frames and up to {r['history']} before them ({a.data})")
    print(f"{'horizon':>8}{'seen':>8}{'seen same':>11}{'unseen grass':>14}{'unseen nearest':>16}"
          f"{'keep seen + grass':>19}{'keep seen + nearest':>21}")
    for h, m in r["horizons"].items():
        print(f"{h:>8}{m['seen']:>8.3f}{m['seen_same']:>11.3f}{m['unseen_grass']:>14.3f}{m['unseen_nearest']:>16.3f}"
              f"{m['keep_seen_draw_grass']:>19.3f}{m['keep_seen_draw_nearest']:>21.3f}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(r, indent=1))
        print(f"wrote {a.out}")
    return r


if __name__ == "__main__":
    main()
