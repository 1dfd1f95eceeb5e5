"""Held-out Minetest recordings as the evaluation reads them: frames at the world's size, the
recorded MultiDiscrete actions, what each step did (turned the camera, walked, neither), and the
camera's geometry (Minetest's field of view)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from model.recordings import RecordingError, list_episodes, load_episode
from model.vpt import CAMERA_CENTER_BIN, MINERL_BUTTONS, MULTIDISCRETE_NVEC, N_BUTTONS, bins_to_camera

VERTICAL_FOV = 72.0  # degrees: Minetest's default `fov` setting is the vertical one
BUTTON = {name: i for i, name in enumerate(MINERL_BUTTONS)}
WALK_BUTTONS = ("forward", "back", "left", "right")
STEP_KINDS = ("turned", "walked", "neither")


def horizontal_fov(width: int, height: int, vertical: float = VERTICAL_FOV) -> float:
    """The horizontal field of view (degrees) of a `width`x`height` view with vertical fov `vertical`
    (a pinhole camera: 88.2° for 4:3 at 72°)."""
    return math.degrees(2 * math.atan(width / height * math.tan(math.radians(vertical) / 2)))


def noop_action() -> np.ndarray:
    """The MultiDiscrete vector of no button and no camera motion."""
    a = np.zeros(len(MULTIDISCRETE_NVEC), np.int64)
    a[N_BUTTONS:] = CAMERA_CENTER_BIN
    return a


def check_world_actions(world) -> None:
    """A ValueError unless the world takes Minetest's MultiDiscrete actions (23 buttons + 2 camera bins)."""
    nvec = tuple(int(n) for n in world.action_nvec)
    if nvec != tuple(int(n) for n in MULTIDISCRETE_NVEC):
        kind = f"Discrete({nvec[0]})" if len(nvec) == 1 else f"MultiDiscrete({list(nvec)})"
        raise ValueError(f"the Minetest evaluation needs a world with MineRL MultiDiscrete actions (23 buttons + "
                         f"2 camera bins, model/vpt.py); this world's actions are {kind} (game "
                         f"{world.meta.get('game', 'unknown')!r})")


def camera_degrees(actions: np.ndarray) -> np.ndarray:
    """(..., 2) [pitch, yaw] in degrees of MultiDiscrete actions (..., 25)."""
    return bins_to_camera(np.asarray(actions)[..., N_BUTTONS:])


def step_kinds(actions: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """What each action (..., 25) did, as an index into STEP_KINDS: the camera turned (|pitch| or
    |yaw| above `threshold` degrees), else the player walked (forward, back, left or right held),
    else neither."""
    a = np.asarray(actions)
    turned = np.abs(camera_degrees(a)).max(-1) > threshold
    walked = a[..., [BUTTON[b] for b in WALK_BUTTONS]].any(-1)
    return np.where(turned, 0, np.where(walked, 1, 2))


def episode_actions(records: list[dict], where: str) -> np.ndarray:
    """(T, 25) int64: the action after each frame (the last frame's null as no-op)."""
    out = np.empty((len(records), len(MULTIDISCRETE_NVEC)), np.int64)
    for t, r in enumerate(records):
        a = r.get("action")
        if a is None:
            out[t] = noop_action()
            continue
        a = np.asarray(a)
        if a.shape != (len(MULTIDISCRETE_NVEC),) or a.dtype.kind not in "iu":
            raise RecordingError(f"{where}: frame {t}: 'action' must be {len(MULTIDISCRETE_NVEC)} ints (MineRL "
                                 f"MultiDiscrete, model/vpt.py), got {r.get('action')!r}")
        if (a < 0).any() or (a >= MULTIDISCRETE_NVEC).any():
            raise RecordingError(f"{where}: frame {t}: action out of range: {a.tolist()}")
        out[t] = a
    return out


def leading_actions(actions: np.ndarray, start: int, k: int) -> np.ndarray:
    """(k, 25): the actions that led to frames start..start+k-1 (-1 where none did: the first frame)."""
    lead = np.full((k, actions.shape[1]), -1, np.int64)
    for i in range(k):
        if start + i - 1 >= 0:
            lead[i] = actions[start + i - 1]
    return lead


class Recordings:
    """A recordings folder read at one frame size (`size` = (W, H)); each episode decoded once, as far
    as it has been asked for."""

    def __init__(self, folder: str | Path, size: tuple[int, int]):
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder of recordings (give held-out Minetest recordings, "
                                    "e.g. from scripts/collect.py --game minetest)")
        self.folder, self.size = folder, (int(size[0]), int(size[1]))
        self.episodes = list_episodes(folder)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def length(self, info) -> int:
        if info.frames >= 0:
            return info.frames
        with open(self.folder / f"{info.name}.jsonl", "rb") as f:
            return sum(1 for line in f if line.strip())

    def load(self, info, first: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(frames (T, H, W, 3) uint8 at `size`, actions (T, 25)) of the episode's first `first` frames
        (all with None)."""
        have = self._cache.get(info.name)
        if have is not None and (first is None and len(have[0]) == self.length(info)
                                 or first is not None and len(have[0]) >= first):
            return have if first is None else (have[0][:first], have[1][:first])
        ep = load_episode(self.folder, info, size=self.size, first=first)
        got = (ep.frames, episode_actions(ep.records, f"{self.folder / info.name}.jsonl"))
        self._cache[info.name] = got
        return got


def draw_windows(rec: Recordings, length: int, n: int, seed: int) -> list[tuple]:
    """`n` windows (episode info, first frame) of `length` frames, spread over the episodes (several per
    episode where there are fewer episodes than `n`); the same seed draws the same windows."""
    from model.recordings import draw_windows as draw

    per_episode = -(-n // len(rec.episodes))
    try:
        return draw(rec.folder, length, n, seed, per_episode=per_episode)
    except ValueError:
        raise ValueError(f"{rec.folder}: no episode has the {length} frames a window needs (context + the longest "
                         "horizon); give fewer --horizons or longer recordings") from None


def load_windows(rec: Recordings, windows: list[tuple], k: int, length: int):
    """Frames (n, length, H, W, 3), actions after each frame (n, length, 25) and the actions that led
    to the first k frames (n, k, 25) of the windows."""
    clips, acts, lead = [], [], []
    for info, s in windows:
        frames, actions = rec.load(info, first=s + length)
        clips.append(frames[s : s + length])
        acts.append(actions[s : s + length])
        lead.append(leading_actions(actions, s, k))
    return np.stack(clips), np.stack(acts), np.stack(lead)
