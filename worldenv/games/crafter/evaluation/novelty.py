"""How much of the view at horizon k the start clip never showed, on Crafter recordings.

    python scripts/view_novelty.py --data data/crafter72_heldout --horizons 1 8 32 128

Teacher-forced fidelity (`soraworld-evaluate`) gives a world model the first `context` real frames
of a clip and the real actions, and scores frame `context + k - 1` tile by tile. A tile whose place
in the world no context frame showed is one the model can only guess: Crafter's world is drawn at
random per seed. This reads the game's own tile map and player position from the recordings' jsonl
(no video, no model; `places`) and reports, per horizon, the share of the view's tiles that are:
- `seen`: at a world place some context frame showed;
- `seen_same`: seen, and the same material or creature as the last context frame showed there
  (what a model that remembered the clip perfectly and knew nothing changed would get right);
- `unseen_grass`: unseen and grass, the commonest tile (what drawing grass there gets right);
- `unseen_nearest`: unseen and what the nearest place the clip showed held (a guess of unseen
  terrain from the terrain seen, which spans many tiles in Crafter).
`seen_same + unseen_grass` (or `+ unseen_nearest`) is the score of a dream that keeps all it saw
and draws grass (or the nearest seen tile) elsewhere; a model beats them only by guessing unseen
terrain from the clip better, or by knowing what changed. The starts are drawn as the evaluation
draws them (`draw_windows`: same seed, same order), so the numbers sit next to its table;
`--history` counts the frames of a longer prompt (the evaluation's --history) as seen too.

`--fit-data TRAINING_RECORDINGS` also fits a guess of unseen tiles from what the clip showed
(`UnseenTerrainGuess`: the game's tile frequencies given the nearest seen tile, its distance and
the commonest seen tile around) on other recordings, and scores it on these: its best guess, and a
draw from it (what a world that samples unseen terrain as the game makes it would get right).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model.cli import command_line
from model.recordings import draw_windows, list_episodes
from worldenv.games.crafter.evaluation.places import (
    nearest_shown,
    prompt_places,
    prompts,
    prompts_places,
    shown_places,
    view_corner,
)

GRASS = 2  # crafter's semantic id of grass
OUTSIDE = -1  # the recorder's id of a place outside the world

DISTANCE_EDGES = np.array([1.5, 2.5, 3.5, 5.5, 8.5])  # bins of the distance to the nearest seen place
AROUND = 3  # radius (tiles) of the seen neighbourhood whose commonest tile is a feature
N_IDS = 40  # tile ids OUTSIDE .. 38 (crafter's go up to 18), as id - OUTSIDE
N_DIST = len(DISTANCE_EDGES) + 1

__all__ = ["UnseenTerrainGuess", "main", "novelty_shares", "prompt_places", "prompts_unseen_features",
           "unseen_features", "view_novelty"]


def unseen_features(tiles: np.ndarray, pos: np.ndarray, context: int, horizon: int) -> np.ndarray:
    """(m, 4) int rows, one per tile of the view at frame `context + horizon - 1` whose place the
    first `context` frames never showed: (tile id at the nearest shown place, bin of its distance
    (`DISTANCE_EDGES`), commonest tile id shown within `AROUND` tiles or OUTSIDE - 1 where none,
    the tile's own id). What a guess of unseen terrain can know from the clip (`UnseenTerrainGuess`)."""
    rows, cols = tiles.shape[1:]
    shown, places, ids = shown_places(tiles, pos, context)
    x0, y0 = view_corner(pos[context + horizon - 1], rows, cols)
    out = []
    for r in range(rows):
        for c in range(cols):
            place = (x0 + c, y0 + r)
            if place in shown:
                continue
            near, d2 = nearest_shown(places, place)
            around = ids[d2 <= AROUND**2]
            major = np.bincount(around - OUTSIDE).argmax() + OUTSIDE if len(around) else OUTSIDE - 1
            out.append((ids[near], np.searchsorted(DISTANCE_EDGES, np.sqrt(d2[near])), major,
                        tiles[context + horizon - 1, r, c]))
    return np.array(out, np.int64).reshape(-1, 4)


class UnseenTerrainGuess:
    """A guess of unseen tiles fitted on recordings (`fit`, rows of `unseen_features`): the tile-id
    frequencies of each (nearest seen id, distance bin, commonest seen id around), backing off to
    (nearest, distance) and to the distance alone where a key was seen fewer than `min_count` times.
    `probs` gives the fitted distribution; its argmax is the best single guess, and a world that drew
    unseen terrain from it would be right with probability p(the true tile)."""

    def __init__(self, min_count: int = 20):
        self.min_count = min_count
        self.tables = None

    SIZES = (N_IDS * N_DIST * (N_IDS + 1), N_IDS * N_DIST, N_DIST)  # of the three keys' tables

    @staticmethod
    def _keys(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nearest, distance, around), (nearest, distance) and (distance) keys of `unseen_features` rows."""
        ids, around = f[:, [0, 3]], f[:, 2]
        if ((ids < OUTSIDE) | (ids >= OUTSIDE + N_IDS)).any() or ((around < OUTSIDE - 1) | (around >= OUTSIDE + N_IDS)).any():
            raise ValueError(f"tile ids must be in [{OUTSIDE}, {OUTSIDE + N_IDS}) (and {OUTSIDE - 1} for none around)")
        if ((f[:, 1] < 0) | (f[:, 1] >= N_DIST)).any():
            raise ValueError(f"distance bins must be in [0, {N_DIST})")
        near, dist, major = f[:, 0] - OUTSIDE, f[:, 1], f[:, 2] - OUTSIDE + 1  # major: N_IDS + 1 values
        k2 = near * N_DIST + dist
        return k2 * (N_IDS + 1) + major, k2, dist

    def fit(self, features: np.ndarray) -> UnseenTerrainGuess:
        if len(features) == 0:
            raise ValueError("no unseen tiles to fit a guess on")
        truth = features[:, 3] - OUTSIDE
        self.tables = []
        for key, size in zip(self._keys(features), self.SIZES, strict=True):
            table = np.zeros((size, N_IDS))
            np.add.at(table, (key, truth), 1)
            self.tables.append(table)
        return self

    def probs(self, features: np.ndarray) -> np.ndarray:
        """(m, N_IDS) fitted distributions over tile id - OUTSIDE of the tiles with these features."""
        if self.tables is None:
            raise RuntimeError("fit the guess first")
        counts = np.zeros((len(features), N_IDS))
        todo = np.ones(len(features), bool)
        keys = self._keys(features)
        for key, table in zip(keys, self.tables, strict=True):
            c = table[key]
            use = todo & (c.sum(1) >= self.min_count)
            counts[use], todo = c[use], todo & ~use
        counts[todo] = self.tables[-1][keys[2][todo]] + 1e-9
        return counts / counts.sum(1, keepdims=True)

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per unseen tile: (the best single guess is right (bool), the probability a draw is right)."""
        p = self.probs(features)
        truth = features[:, 3] - OUTSIDE
        return p.argmax(1) == truth, p[np.arange(len(p)), truth]


def novelty_shares(seen: np.ndarray, same: np.ndarray, nearest: np.ndarray, tiles: np.ndarray) -> dict:
    """The shares of views (any leading shape, (..., rows, cols)) that were `seen`, seen and the
    `same`, unseen and what the `nearest` seen place held, or unseen and grass in `tiles` (see
    module docstring)."""
    grass = ~seen & (tiles == GRASS)
    return {"seen": float(seen.mean()), "seen_same": float(same.mean()), "unseen_grass": float(grass.mean()),
            "unseen_nearest": float(nearest.mean())}


def prompts_unseen_features(data: str, drawn: list, context: int, horizons, history: int = 0,
                            maps: dict | None = None) -> dict:
    """{horizon: (m, 4) `unseen_features` of all the clips `drawn`} (prompted as in `prompts_places`)."""
    out = {h: [np.zeros((0, 4), np.int64)] for h in horizons}
    for h, tiles, pos, prompt in prompts(data, drawn, context, horizons, history, "unseen tiles", maps):
        out[h].append(unseen_features(tiles, pos, prompt, h))
    return {h: np.concatenate(f) for h, f in out.items()}


def view_novelty(data: str, horizons=(1, 8, 32, 128), starts: int = 48, context: int = 7, seed: int = 0,
                 history: int = 0, fit_data: str | None = None, fit_starts: int = 400) -> dict:
    """Per horizon: the shares of `novelty_shares` over the starts the evaluation would score with
    `--starts starts --horizons <all of horizons> --history history` (one draw for the longest
    horizon, as it does); with `history`, up to that many frames before each clip count as seen too.
    With `fit_data` (other recordings, e.g. the training set), also an `UnseenTerrainGuess` fitted
    on `fit_starts` clips of them: `unseen_learned` (its best guess right, share of the view) and
    `unseen_learned_draw` (a draw from it right, expected share)."""
    per_episode = -(-starts // len(list_episodes(data)))
    clips = draw_windows(data, context + max(horizons), starts, seed, per_episode)
    maps = {}  # the held-out maps, read once for both passes
    places = prompts_places(data, clips, context, horizons, history, maps)
    out = {"data": data, "starts": len(clips), "context": context, "history": history, "seed": seed, "horizons": {}}
    guess = None
    if fit_data is not None:
        fit_clips = draw_windows(fit_data, context + max(horizons), fit_starts, seed + 1,
                                 -(-fit_starts // len(list_episodes(fit_data))))
        fitted = prompts_unseen_features(fit_data, fit_clips, context, horizons, history)
        guess = UnseenTerrainGuess().fit(np.concatenate(list(fitted.values())))
        out.update(fit_data=fit_data, fit_starts=len(fit_clips))
        scored = prompts_unseen_features(data, clips, context, horizons, history, maps)
    for h in horizons:
        mean = novelty_shares(*places[h])
        mean["keep_seen_draw_grass"] = mean["seen_same"] + mean["unseen_grass"]
        mean["keep_seen_draw_nearest"] = mean["seen_same"] + mean["unseen_nearest"]
        if guess is not None:
            best, draw = guess.score(scored[h])
            n_tiles = places[h][0].size
            mean["unseen_learned"], mean["unseen_learned_draw"] = best.sum() / n_tiles, draw.sum() / n_tiles
            mean["keep_seen_draw_learned"] = mean["seen_same"] + mean["unseen_learned"]
            mean["keep_seen_sample_learned"] = mean["seen_same"] + mean["unseen_learned_draw"]
            mean["unseen_right_learned"] = float(best.mean()) if len(best) else None
            mean["unseen_right_draw"] = float(draw.mean()) if len(draw) else None
            mean["unseen_share"] = 1 - mean["seen"]
        out["horizons"][str(h)] = {k: float(v) if v is not None else None for k, v in mean.items()}
    return out


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="Crafter recordings folder (soraworld-collect's format)")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--starts", type=int, default=48, help="as the evaluation's --starts")
    p.add_argument("--context", type=int, default=7, help="context frames (the world's window - 1)")
    p.add_argument("--seed", type=int, default=0, help="as the evaluation's --seed")
    p.add_argument("--history", type=int, default=0, help="as the evaluation's --history: frames before each clip "
                   "that count as seen too")
    p.add_argument("--fit-data", default=None, help="other Crafter recordings (e.g. the training set) to fit a "
                   "guess of unseen terrain on (UnseenTerrainGuess), scored on --data")
    p.add_argument("--fit-starts", type=int, default=400, help="clips of --fit-data to fit the guess on")
    p.add_argument("--out", default=None, help="write the result here as JSON")
    a = p.parse_args(argv)
    if a.context < 1 or min(a.horizons) < 1 or a.starts < 1 or a.history < 0:
        p.error("--context, --horizons and --starts must be >= 1, --history >= 0")
    r = view_novelty(a.data, tuple(a.horizons), a.starts, a.context, a.seed, a.history, a.fit_data, a.fit_starts)
    print(f"{r['starts']} starts, {r['context']} context frames and up to {r['history']} before them ({a.data})")
    print(f"{'horizon':>8}{'seen':>8}{'seen same':>11}{'unseen grass':>14}{'unseen nearest':>16}"
          f"{'keep seen + grass':>19}{'keep seen + nearest':>21}")
    for h, m in r["horizons"].items():
        print(f"{h:>8}{m['seen']:>8.3f}{m['seen_same']:>11.3f}{m['unseen_grass']:>14.3f}{m['unseen_nearest']:>16.3f}"
              f"{m['keep_seen_draw_grass']:>19.3f}{m['keep_seen_draw_nearest']:>21.3f}")
    if a.fit_data:
        print(f"a guess of unseen tiles fitted on {r['fit_starts']} clips of {a.fit_data}:")
        print(f"{'horizon':>8}{'unseen':>8}{'best guess right':>18}{'a draw right':>14}{'keep seen + best guess':>24}"
              f"{'keep seen + a draw':>20}")
        for h, m in r["horizons"].items():
            right = "-" if m["unseen_right_learned"] is None else f"{m['unseen_right_learned']:.3f}"
            drawn = "-" if m["unseen_right_draw"] is None else f"{m['unseen_right_draw']:.3f}"
            print(f"{h:>8}{m['unseen_share']:>8.3f}{right:>18}{drawn:>14}{m['keep_seen_draw_learned']:>24.3f}"
                  f"{m['keep_seen_sample_learned']:>20.3f}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(r, indent=1))
        print(f"wrote {a.out}")
    return r
