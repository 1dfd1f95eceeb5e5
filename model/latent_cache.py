"""A recordings folder encoded by the VideoVAE: what the DiT trains on.

One safetensors file holds every episode back to back (temporal factor 1: one latent frame per
recorded frame):

    latents      (N, c, h, w) float16   normalised latents
    actions      (N, A) int64           action taken after each frame (0 where none)
    has_action   (N,) uint8
    rewards      (N,) float32           reward of arriving at each frame
    dones        (N,) uint8
    episode_starts, episode_lengths (E,) int64

plus `captions.jsonl` (one caption per frame, same order) beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

KIND = "LatentCache"


@dataclass
class LatentCache:
    """Latents and per-frame arrays of many episodes (see module docstring)."""

    latents: torch.Tensor
    actions: torch.Tensor
    has_action: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    episode_starts: torch.Tensor
    episode_lengths: torch.Tensor
    captions: list[str]
    meta: dict

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: getattr(self, k) for k in
                   ("latents", "actions", "has_action", "rewards", "dones", "episode_starts", "episode_lengths")}
        from model.recordings import atomic_write_text

        atomic_write_text(folder / "captions.jsonl", "".join(json.dumps(c) + "\n" for c in self.captions))
        save_checkpoint(folder / "latents.safetensors", tensors, KIND, None, **self.meta)

    @classmethod
    def load(cls, folder: str | Path) -> "LatentCache":
        folder = Path(folder)
        tensors, meta = load_checkpoint(folder / "latents.safetensors", KIND)
        captions_path = folder / "captions.jsonl"
        captions = [json.loads(line) for line in open(captions_path)] if captions_path.exists() else []
        return cls(**tensors, captions=captions, meta=meta)

    def __len__(self) -> int:
        return len(self.latents)

    @staticmethod
    def read_meta(folder: str | Path) -> dict:
        """The metadata of the cache in `folder` (recordings, frame size, action parts) without
        loading its tensors."""
        from safetensors import safe_open

        path = Path(folder) / "latents.safetensors"
        if not path.exists():
            raise CheckpointError(f"{path}: latent cache not found")
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        if raw.get("kind") != KIND:
            raise CheckpointError(f"{path}: this is a {raw.get('kind')!r} file, expected a {KIND}")
        try:
            return {k: json.loads(v) for k, v in raw.items() if k not in ("format_version", "kind")}
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path}: its metadata is not valid JSON ({e})") from None

    def actions_into_frames(self) -> torch.Tensor:
        """(N, A) action that led to each frame: the previous frame's action, -1 at episode starts
        (the DiT's action tokens)."""
        prev = torch.roll(self.actions, 1, 0).clone()
        prev[self.episode_starts] = -1
        return prev

    def sample_windows(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """Start indices (into the flat arrays) of `n` random windows that stay inside one episode."""
        lengths = self.episode_lengths.numpy()
        ok = np.flatnonzero(lengths >= length)
        if len(ok) == 0:
            raise ValueError(f"no episode in the cache has {length} frames")
        weights = (lengths[ok] - length + 1).astype(float)
        eps = rng.choice(ok, size=n, p=weights / weights.sum())
        offsets = (rng.random(n) * (lengths[eps] - length + 1)).astype(np.int64)
        return self.episode_starts.numpy()[eps] + offsets


def episode_records(cache: LatentCache, recordings: str | Path | None = None,
                    prefix: bool = False) -> list[list[dict]]:
    """The jsonl records of the cache's episodes, one list per episode, in the cache's order (one
    record per cached frame). `recordings` defaults to the folder the cache was encoded from; with
    `prefix`, the cache may hold only the folder's first episodes (`encode_latents --max-episodes`)."""
    from model.recordings import list_episodes, read_jsonl

    folder = Path(recordings or cache.meta.get("data", ""))
    lengths = cache.episode_lengths.tolist()
    episodes = list_episodes(folder)
    if prefix:
        episodes = episodes[: len(lengths)]
    if [e.frames for e in episodes] != lengths:
        raise ValueError(f"{folder} does not hold the episodes of this cache ({len(episodes)} episodes vs "
                         f"{len(lengths)} cached, or their lengths differ); pass the recordings it was encoded from")
    records = [read_jsonl(folder / f"{e.name}.jsonl") for e in episodes]
    if sum(map(len, records)) != len(cache):
        raise ValueError(f"{folder}: the jsonl files hold {sum(map(len, records))} records for {len(cache)} "
                         "cached frames")
    return records


def unlock_labels(cache: LatentCache, recordings: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """Which achievement unlocked on arriving at each frame of the cache: (N,) int64 index into the
    returned sorted names, -1 where none did.

    Read from the recordings' jsonl (the `unlocked` field a game's recorder writes), only the
    text, in the cache's episode order; `recordings` defaults to the folder the cache was encoded from.
    """
    per_frame: list[str | None] = []
    for records in episode_records(cache, recordings):
        for r in records:
            unlocked = r.get("unlocked") or []
            per_frame.append(str(unlocked[0]) if unlocked else None)
    names = sorted({n for n in per_frame if n is not None})
    index = {n: i for i, n in enumerate(names)}
    return np.array([-1 if n is None else index[n] for n in per_frame], np.int64), names


def death_frames(cache: LatentCache, recordings: str | Path | None = None) -> np.ndarray:
    """(N,) bool: the terminal frames of episodes that ended in death, not at a time limit (the
    recordings' index says `died`; episodes without that field count as deaths, like evaluate.py)."""
    from model.recordings import list_episodes

    died = [bool(e.extra.get("died", True)) for e in list_episodes(recordings or cache.meta.get("data", ""))]
    if len(died) != len(cache.episode_lengths):
        raise ValueError(f"recordings hold {len(died)} episodes, the cache {len(cache.episode_lengths)}")
    return cache.dones.numpy().astype(bool) & np.repeat(died, cache.episode_lengths.numpy())


def item_gain_frames(cache: LatentCache, recordings: str | Path | None = None,
                     ignore: tuple[str, ...] = ("health",), records: list[list[dict]] | None = None) -> np.ndarray:
    """(N,) bool: some inventory count rose on arriving at each frame of the cache (a sapling, wood,
    a drink, energy in sleep...), read from the recordings' jsonl `inventory` in the cache's
    episode order. Health is ignored by default: it regenerates on its own every few steps.

    These are the frames a world model must not average away (see `FlowConfig.event_weight`).
    Records without an `inventory` field (e.g. VPT) count as no gain. A cache of the first episodes
    of a folder (`encode_latents --max-episodes`) reads those episodes. `records`: the episodes'
    records already read (`episode_records(cache, recordings, prefix=True)`), to read them once."""
    gains: list[bool] = []
    for episode in records if records is not None else episode_records(cache, recordings, prefix=True):
        before: dict = {}
        for r in episode:
            inv = r.get("inventory") or {}
            gains.append(any(v > before.get(k, v) for k, v in inv.items() if k not in ignore))
            before = inv
    return np.array(gains, bool)


def attempt_frames(cache: LatentCache, quiet_actions) -> np.ndarray:
    """(N,) bool: frames reached by an action whose first part is not in `quiet_actions` (e.g. the
    noop and the moves), that is, an attempt to act on the world (collect, place, make, sleep...)
    whether the game let it happen or not.

    Weighting only the gains teaches a model that "make a sword" gives a sword; the failed
    attempts (most of them: the materials or the workbench missing) teach it when it does not."""
    quiet = {int(a) for a in quiet_actions}
    first = cache.actions_into_frames()[:, 0].numpy()
    return (first >= 0) & ~np.isin(first, sorted(quiet))


def refused_move_frames(cache: LatentCache, move_actions, recordings: str | Path | None = None,
                        records: list[list[dict]] | None = None) -> np.ndarray:
    """(N,) bool: frames reached by a move (first action part in `move_actions`) that left the
    player where it was, read from the recordings' jsonl `player_pos`: a game may refuse moves
    into obstacles (e.g. trees, water, stone), and then only the player's facing changes. Records
    without `player_pos` (e.g. VPT) count as no refusal.

    A world model that sees the previous frame moved with the view (`DiTConfig.view_moves`) tends
    to move anyway; these are the frames `FlowConfig.refused_weight` weights up. `records` as in
    `item_gain_frames`."""
    moves = {int(a) for a in move_actions}
    out: list[bool] = []
    for episode in records if records is not None else episode_records(cache, recordings, prefix=True):
        prev = None
        for r in episode:
            pos = r.get("player_pos")
            act = prev.get("action") if prev is not None else None
            first = act[0] if isinstance(act, list) else act
            out.append(prev is not None and pos is not None and first in moves and pos == prev.get("player_pos"))
            prev = r
    return np.array(out, bool)
