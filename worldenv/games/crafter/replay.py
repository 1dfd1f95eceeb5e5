"""Replay a recorded Crafter episode, with the game's night grain or with that grain at its mean.

Below daylight 0.5 crafter mixes fresh grey noise into the local view every frame
(`engine.LocalView._noise`: uniform 32..127 per pixel, blended in by the vignette, up to 98 % of
a corner pixel at daylight 0). Part of the view is then unreadable in the real frame itself. The
grain carries no game state, so what a VAE should give back is the frame with the grain at its
mean. Replaying the recording that way gives exactly that frame for every recorded one, so the VAE
evaluation can measure what a perfect grain-free reconstruction scores, and VAE training can aim
at it (`scripts/evaluate_vae.py --grain-free`, `scripts/train_vae.py --target-data`).

The replay is exact: the recorder starts the episode from `reset(seed=...)` (the seed is in the
recording's index) and crafter is deterministic given its random stream. With the grain at its
mean the random numbers of the grain are still drawn and thrown away, so creatures, growth and the
rest of the world that share that stream run exactly as recorded. The replay checks the player's
position and inventory against the recording at every step and stops with a clear error where they part.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
from crafter import engine

from model.recordings import EpisodeInfo, RecordingError, list_episodes, load_episode
from worldenv.games.crafter.parse import NOISE_RANGE

GRAIN_MEAN = sum(NOISE_RANGE) / 2  # the mean of crafter's uniform night grain


@contextmanager
def grain_at_mean():
    """Inside this block crafter draws its night grain at its mean. The random draw still happens
    (and is dropped) so the world's random stream, shared with creatures and growth, is unchanged."""
    original = engine.LocalView._noise

    def noise_at_mean(self, canvas, amount, stddev):
        self._world.random.uniform(*NOISE_RANGE, canvas.shape[:2])  # keep the stream where the game has it
        mask = amount * self._vignette(canvas.shape, stddev)[..., None]
        return (1 - mask) * canvas + mask * GRAIN_MEAN

    engine.LocalView._noise = noise_at_mean
    try:
        yield
    finally:
        engine.LocalView._noise = original


def replay_episode(folder: str, info: EpisodeInfo, grain: bool = True, records: list[dict] | None = None) -> np.ndarray:
    """Frames (t, H, W, 3) uint8 of a recorded Crafter episode played again from its seed and
    actions; with `grain=False` the night grain is at its mean. `records` (the episode's jsonl
    lines) saves decoding the video when the caller has them."""
    from worldenv.games.crafter.env import CrafterEnv

    extra = info.extra or {}
    if info.game != "crafter" or "seed" not in extra:
        raise RecordingError(f"{folder}/{info.name}: only Crafter recordings with a seed in index.json can be "
                             f"replayed (game {info.game!r}, seed {extra.get('seed')!r})")
    if records is None:
        records = load_episode(folder, info).records
    size = tuple(extra.get("size", (info.width, info.height)))
    env = CrafterEnv(size=size, view=tuple(extra.get("view", (9, 9))), area=tuple(extra.get("area", (64, 64))),
                     length=len(records) + 1, captions=False)
    frames = np.empty((len(records), size[1], size[0], 3), np.uint8)
    with nullcontext() if grain else grain_at_mean():
        obs, game = env.reset(seed=int(extra["seed"]))
        for t, rec in enumerate(records):
            # where the player stands and what it holds: a world that ran otherwise shows in them soon
            for key, now in (("player_pos", list(game["player_pos"])), ("inventory", dict(game["inventory"]))):
                if rec.get(key) is not None and now != rec[key]:
                    raise RecordingError(f"{folder}/{info.name}: the replay left the recording at step {t} ({key} "
                                         f"{now}, recorded {rec[key]}); was it recorded with another crafter version?")
            frames[t] = obs
            if t + 1 < len(records):
                if rec.get("action") is None:
                    raise RecordingError(f"{folder}/{info.name}.jsonl: step {t} has no action but more frames follow")
                obs, _, _, _, game = env.step(int(rec["action"]))
    env.close()
    return frames


def check_grain_free_copy(data: str, copy: str) -> None:
    """A clear error unless `copy` holds the episodes of `data` (names and lengths), as
    scripts/replay_grain_free.py writes them."""
    if [(e.name, e.frames) for e in list_episodes(data)] != [(e.name, e.frames) for e in list_episodes(copy)]:
        raise RecordingError(f"{copy} is not a grain-free copy of {data}: its episodes or their lengths differ "
                             "(write it with scripts/replay_grain_free.py)")
