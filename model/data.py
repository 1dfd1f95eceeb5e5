"""Fixed-length clips from any recordings folder (a game plugin's recordings, or VPT Minecraft).

A clip is a dict of tensors, `T` = clip length, at the recording's native resolution:

    frames   (T, H, W, 3) uint8   RGB
    actions  (T, A) int64         action taken after each frame: A = 1 for a Discrete action (e.g.
                                  Discrete(17)), A = 25 for Minecraft (23 MineRL buttons + 2 camera bins)
    has_action (T,) bool          False where the recording has no action (an episode's last frame)
    rewards  (T,) float32         reward received on arriving at each frame
    dones    (T,) bool            frame is terminal
    gui      (T,) bool            a GUI (inventory screen) was open (VPT); False elsewhere
    captions list[str] of T       descriptive caption per frame ("" when the recording has none)

Recordings are validated when an episode is loaded: a video whose frame count differs from its
jsonl raises `RecordingError` (or, with `skip_bad=True`, the episode is skipped with a warning),
so frames and actions are never silently misaligned.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.recordings import EpisodeInfo, RecordingError, check_episode, list_episodes, load_episode


@dataclass
class EpisodeArrays:
    """An episode decoded into arrays (see the module docstring for shapes)."""

    frames: np.ndarray
    actions: np.ndarray
    has_action: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    gui: np.ndarray
    captions: list[str]
    unlocked: list[str | None]  # achievement first unlocked on arriving at each frame (jsonl `unlocked`)
    sleeping: np.ndarray  # (T,) bool: the player sleeps in each frame (jsonl `sleeping`; False where absent)


def actions_into_frames(actions: np.ndarray) -> np.ndarray:
    """Per-frame actions *after* each frame (T, A) -> the action that led *to* each frame:
    row t is the action after frame t - 1, row 0 is -1 (none). The DiT's action tokens use this."""
    into = np.full_like(actions, -1)
    into[1:] = actions[:-1]
    return into


def is_vpt(records: list[dict]) -> bool:
    """VPT jsonl lines carry raw `keyboard`/`mouse` state instead of an `action`."""
    return bool(records) and "keyboard" in records[0] and "action" not in records[0]


def episode_arrays(folder: str | Path, info: EpisodeInfo | str, size: tuple[int, int] | None = None,
                   first: int | None = None) -> EpisodeArrays:
    """Decode one episode (or its `first` frames, see `load_episode`) and turn its jsonl into
    aligned arrays."""
    ep = load_episode(folder, info, size=size, first=first)
    recs, T = ep.records, len(ep.records)
    where = f"{Path(folder) / ep.info.name}.jsonl"
    if is_vpt(recs):
        from model.vpt import vpt_actions

        actions, _camera, gui = vpt_actions(recs)
        has_action = np.ones(T, bool)
        rewards = np.zeros(T, np.float32)
        dones = np.zeros(T, bool)
        dones[-1] = first is None or T < first  # the recording's end, not where `first` cut it
    else:
        has_action = np.array([r.get("action") is not None for r in recs])
        first_action = next((r["action"] for r in recs if r.get("action") is not None), 0)
        width = len(first_action) if isinstance(first_action, list) else 1
        actions = np.zeros((T, width), np.int64)
        for t, r in enumerate(recs):
            a = r.get("action")
            if a is None:
                continue
            a = a if isinstance(a, list) else [a]
            if len(a) != width or not all(isinstance(x, int) for x in a):
                raise RecordingError(f"{where}:{t + 1}: action {r['action']!r} is not {width} int(s) like line 1")
            actions[t] = a
        try:
            rewards = np.array([float(r.get("reward", 0.0)) for r in recs], np.float32)
            dones = np.array([bool(r.get("done", False)) for r in recs])
        except (TypeError, ValueError) as e:
            raise RecordingError(f"{where}: bad reward/done value ({e})") from None
        gui = np.zeros(T, bool)
    captions = [str(r.get("caption", "")) for r in recs]
    unlocked = [str(r["unlocked"][0]) if r.get("unlocked") else None for r in recs]
    sleeping = np.array([bool(r.get("sleeping", False)) for r in recs], bool)
    return EpisodeArrays(ep.frames, actions, has_action, rewards, dones, gui, captions, unlocked, sleeping)


def start_clips(folder: str | Path, n: int, k: int, seed: int = 0, anywhere: bool = False,
                progress: bool = False, hold_openings: bool = False,
                size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`n` real clips of `k` frames to start dreams from: frames (n, k, H, W, 3) uint8 and the
    actions into them (n, k, A) (-1 = none). `size` (W, H) resizes the frames (None: native), to
    the size of the latents a world was trained on.

    Clips open their episodes (how a game starts), or with `anywhere=True` start at random points
    of play (mid-episode states: night, hurt, holding items), so that agents trained in the dream
    see the states a real episode reaches, as DIAMOND and IRIS start imagination from real data.
    An opening is the episode's first `k` frames as recorded, or with `hold_openings` its first frame
    held for `k` frames with no actions: the state a new game starts in. Recorded openings are
    `k - 1` steps of the recording policy in, and the explore policy walks straight to a tree: 47 %
    of those clips end with a tree next to the player, against none of the games' first frames
    (yet PPO in the dream does better from them: docs/experiments.md).
    Episodes shorter than `k` are skipped (so a folder without an index, whose lengths show only
    on decoding, can give fewer than `n` clips); an episode is decoded once however often it is drawn,
    and for openings only as far as its `k`th frame.
    """
    from tqdm import tqdm

    # Folders without an index do not know their lengths (frames = -1) until decoded.
    episodes = [e for e in list_episodes(folder) if e.frames >= k or e.frames < 0]
    if not episodes or n < 1:
        raise ValueError(f"{folder}: need n >= 1 and an episode of at least {k} frames (have {len(episodes)}, n={n})")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(episodes), size=n, replace=n > len(episodes))
    frames, actions = [], []
    for e in tqdm(sorted(set(picks.tolist())), desc="start clips", unit="ep", disable=not progress):
        ep = episode_arrays(folder, episodes[e], size=size, first=None if anywhere else k)  # an opening needs k frames
        if len(ep.frames) < k:
            continue
        into = actions_into_frames(ep.actions)
        for _ in range(int((picks == e).sum())):
            if not anywhere and hold_openings:
                frames.append(np.repeat(ep.frames[:1], k, axis=0))
                actions.append(np.full_like(into[:k], -1))
                continue
            # anywhere: any clip that ends before the episode's last (terminal) frame
            s = int(rng.integers(max(1, len(ep.frames) - k))) if anywhere else 0
            frames.append(ep.frames[s : s + k])
            actions.append(into[s : s + k])
    if not frames:
        raise ValueError(f"{folder}: no episode has the {k} frames a start clip needs")
    return np.stack(frames), np.stack(actions)


class ClipDataset(Dataset):
    """Clips of `clip_len` frames from a recordings folder, at native resolution.

    Items enumerate windows every `stride` frames over every episode (shuffle them with a
    DataLoader); `sample(rng)` draws a clip uniformly over all frames instead. Decoded episodes
    are kept in an LRU cache of `cache_episodes` entries. With `skip_bad`, every episode's files
    are checked at construction (`model.recordings.check_episode`: a truncated video, a short
    jsonl) and a bad one is left out with a warning; without it, the first bad one raises
    `RecordingError`, at construction where its length is unknown, else when it is read.
    """

    def __init__(
        self,
        folder: str | Path,
        clip_len: int = 16,
        stride: int | None = None,
        size: tuple[int, int] | None = None,
        skip_gui: bool = False,
        skip_bad: bool = False,
        cache_episodes: int = 64,
    ):
        if clip_len < 1:
            raise ValueError(f"clip_len must be >= 1, got {clip_len}")
        self.folder = Path(folder)
        self.clip_len = clip_len
        self.stride = stride or max(1, clip_len // 2)
        self.size = size
        self.skip_gui = skip_gui
        self.cache_episodes = cache_episodes
        self._cache: OrderedDict[str, EpisodeArrays] = OrderedDict()
        self.episodes: list[EpisodeInfo] = []
        self.windows: list[tuple[int, int]] = []  # (episode index, start frame)
        self.lengths: list[int] = []  # frames per episode
        for info in list_episodes(self.folder):
            try:
                arrays = self._load(info) if info.frames < 0 or skip_gui else None
                if skip_bad and arrays is None:
                    # the index's length is taken on trust otherwise: check the files now (jsonl
                    # lines, video packets; nothing decoded), so a bad episode is skipped here
                    # rather than raising in ds[i]
                    check_episode(self.folder, info)
            except RecordingError as e:
                if not skip_bad:
                    raise
                warnings.warn(f"skipping episode {info.name}: {e}", stacklevel=2)
                continue
            n = info.frames if arrays is None else len(arrays.frames)
            if n < clip_len:
                continue
            e = len(self.episodes)
            self.episodes.append(info)
            self.lengths.append(n)
            for s in range(0, n - clip_len + 1, self.stride):
                if arrays is not None and skip_gui and arrays.gui[s : s + clip_len].any():
                    continue
                self.windows.append((e, s))
        if not self.windows:
            raise RecordingError(f"{self.folder}: no episode has {clip_len} usable frames")

    def _load(self, info: EpisodeInfo) -> EpisodeArrays:
        if info.name in self._cache:
            self._cache.move_to_end(info.name)
            return self._cache[info.name]
        arrays = episode_arrays(self.folder, info, size=self.size)
        self._cache[info.name] = arrays
        if len(self._cache) > self.cache_episodes:
            self._cache.popitem(last=False)
        return arrays

    def __len__(self) -> int:
        return len(self.windows)

    def clip(self, episode: int, start: int) -> dict:
        """The clip of `clip_len` frames starting at `start` in episode number `episode`."""
        a = self._load(self.episodes[episode])
        sl = slice(start, start + self.clip_len)
        if start < 0 or start + self.clip_len > len(a.frames):
            raise IndexError(f"clip [{start}, {start + self.clip_len}) outside episode of {len(a.frames)} frames")
        return {
            "frames": torch.from_numpy(np.ascontiguousarray(a.frames[sl])),
            "actions": torch.from_numpy(a.actions[sl].copy()),
            "has_action": torch.from_numpy(a.has_action[sl].copy()),
            "rewards": torch.from_numpy(a.rewards[sl].copy()),
            "dones": torch.from_numpy(a.dones[sl].copy()),
            "gui": torch.from_numpy(a.gui[sl].copy()),
            "captions": a.captions[sl],
        }

    def __getitem__(self, i: int) -> dict:
        return self.clip(*self.windows[i])

    def sample(self, rng: np.random.Generator) -> dict:
        """A clip at a random start frame: a random window, jittered by up to `stride - 1` frames.

        Unlike the fixed windows of `__getitem__`, every start frame can come up.
        """
        e, s = self.windows[int(rng.integers(len(self.windows)))]
        if not self.skip_gui:  # GUI-free windows are only known at their own starts
            last = self.lengths[e] - self.clip_len
            s = min(last, s + int(rng.integers(self.stride)))
        return self.clip(e, s)


class FrameBank:
    """Every frame of a recordings folder decoded into one uint8 array (t h w 3), for VAE training.

    72x72 frames are 15 KB each, so 200k frames fit in 3 GB. `max_frames` caps the total
    (episodes are taken in index order). Clips never cross episode boundaries. With `tiles`, the
    local view's semantic map of every frame (jsonl `tiles`, written by a tile-based game's
    recorder) is kept too, as `self.tiles` (t, rows, cols) uint8 (class ids of the frame parser: the
    recorder's -1 outside the world becomes void, 0), and the tile view as `self.view` (cols, rows). With `light`,
    each frame's jsonl `daylight` and `sleeping` are kept as `self.daylight` (t,) float32 and
    `self.sleeping` (t,) bool.
    """

    def __init__(self, folder: str | Path, max_frames: int = 0, size: tuple[int, int] | None = None,
                 progress: bool = False, tiles: bool = False, light: bool = False):
        from tqdm import tqdm

        from model.recordings import recorded_view

        chunks, tile_chunks, light_chunks, self.starts, total = [], [], [], [], 0
        episodes = list_episodes(folder)
        for info in tqdm(episodes, desc="decode frames", unit="ep", disable=not progress):
            ep = load_episode(folder, info, size=size)
            frames = ep.frames
            if max_frames and total + len(frames) > max_frames:
                frames = frames[: max_frames - total]
            if len(frames) == 0:
                break
            if tiles:
                maps = [r.get("tiles") for r in ep.records[: len(frames)]]
                if any(m is None for m in maps):
                    raise RecordingError(f"{folder}/{info.name}.jsonl: records without a 'tiles' map "
                                         "(a tile map per frame is needed: only tile-based games record one)")
                maps = np.asarray(maps, np.int64)
                tile_chunks.append(np.where(maps < 0, 0, maps).astype(np.uint8))  # outside the world: -1 -> void (0)
            if light:
                recs = ep.records[: len(frames)]
                if any("daylight" not in r or "sleeping" not in r for r in recs):
                    raise RecordingError(f"{folder}/{info.name}.jsonl: records without 'daylight'/'sleeping' "
                                         "(only games with a day and night record them)")
                light_chunks.append(np.array([(r["daylight"], r["sleeping"]) for r in recs], np.float32))
            self.starts.append(total)
            chunks.append(frames)
            total += len(frames)
        if not chunks:
            raise RecordingError(f"{folder}: no frames")
        self.frames = np.concatenate(chunks)
        self.lengths = [len(c) for c in chunks]
        self.tiles = np.concatenate(tile_chunks) if tiles else None
        self.view = recorded_view(folder) if tiles or light else None
        lit = np.concatenate(light_chunks) if light else None
        self.daylight = lit[:, 0] if light else None
        self.sleeping = lit[:, 1] > 0.5 if light else None

    def __len__(self) -> int:
        return len(self.frames)

    def sample_starts(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """(n,) first-frame indices of random clips of `length` frames (each inside one episode)."""
        ok = [i for i, L in enumerate(self.lengths) if L >= length]
        if not ok:
            raise RecordingError(f"no episode has {length} frames")
        weights = np.array([self.lengths[i] - length + 1 for i in ok], float)
        eps = rng.choice(ok, size=n, p=weights / weights.sum())
        return np.array([self.starts[e] + int(rng.integers(self.lengths[e] - length + 1)) for e in eps])

    def sample_clips(self, rng: np.random.Generator, n: int, length: int) -> torch.Tensor:
        """(n, length, H, W, 3) uint8 clips from random episodes and starts."""
        return self.clips(self.sample_starts(rng, n, length), length)

    def clips(self, starts: np.ndarray, length: int) -> torch.Tensor:
        """(n, length, H, W, 3) uint8 clips starting at frame indices `starts`."""
        return torch.from_numpy(np.stack([self.frames[i : i + length] for i in starts]))
