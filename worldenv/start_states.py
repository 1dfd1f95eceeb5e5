"""Where a dream starts: the world's bank of real clips, clips of recordings, an image, a video.

Every start is a clip of frames (T, H, W, 3) uint8 and the actions into them (T, A), -1 for none:
the DiT goes on from its last frames, and a game's rules may remember all of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def load_start_clips(world, starts: str | Path | None, num_starts: int, seed: int = 0, anywhere: bool = True,
                     hold_openings: bool = False):
    """Start clips (frames (n, k, H, W, 3) uint8, actions (n, k, A)): the world's bank, or with
    `starts` a recordings folder, `num_starts` clips from random points of its episodes (with
    `anywhere=False`, from their openings: their first frames, or with `hold_openings` the first frame held
    still, as a new game starts; `model.data.start_clips`)."""
    if starts is None:
        return world.start_frames.numpy(), world.start_actions.numpy()
    from model.data import start_clips

    k = world.start_frames.shape[1]
    frames, actions = start_clips(starts, num_starts, k, seed=seed, anywhere=anywhere, progress=True,
                                  hold_openings=hold_openings)
    if frames.shape[2:] != tuple(world.frame_shape):
        raise ValueError(f"{starts}: recordings are {frames.shape[2:]} frames, this world dreams {world.frame_shape}")
    return frames, actions


def image_to_frame(image: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """A user start image (array or path; RGB, RGBA or gray; any size) -> (H, W, 3) uint8.

    Images of another size are resized with nearest-neighbour sampling (keeps pixel art crisp);
    RGBA drops alpha; gray is repeated to RGB. Anything else is a ValueError naming the problem.
    """
    from PIL import Image

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise ValueError(f"start image {path} does not exist")
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
            raise ValueError(f"start image {path} is not an image PIL can read: {e}") from None
    if image is None:
        raise ValueError("start image is None: pass an (H, W, 3) uint8 array or an image file's path")
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise ValueError(f"start image must be finite numbers (uint8 0..255), got dtype {arr.dtype} with NaN/inf")
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"start image values must be in 0..255, got {arr.min()}..{arr.max()}")
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, -1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"start image must be (H, W, 3) RGB (or RGBA / gray), got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, -1)
    arr = arr[..., :3]
    h, w = shape[:2]
    if arr.shape[:2] != (h, w):
        arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.NEAREST))
    return np.ascontiguousarray(arr)




def still_clip(frame: np.ndarray, k: int, noop) -> tuple[np.ndarray, np.ndarray]:
    """A still image as a clip of `k` frames of the player standing still (the game's `noop` action,
    (parts,)), which fills the DiT's context: (k, H, W, 3) frames and (k, parts) actions, -1 into
    the first."""
    actions = np.tile(np.asarray(noop, np.int64), (k, 1))
    actions[0] = -1
    return np.repeat(frame[None], k, 0), actions


def prompt_video_clip(video, actions, shape: tuple[int, int, int], nvec, k: int,
                      noop=None) -> tuple[np.ndarray, np.ndarray]:
    """A user's prompt video (T, H, W, 3) uint8 at the world's frame `shape` and the actions into its
    frames ((T,) or (T, A) ints, -1 for none; None: none known) -> (frames, actions (T, A)). A
    video shorter than the DiT's context `k` starts as a still image does: its first frame repeated,
    the player standing still (the game's `noop` action; all zeros for None)."""
    frames = np.asarray(video)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != tuple(shape) or len(frames) < 1:
        raise ValueError(f"a prompt video must be (T, {shape[0]}, {shape[1]}, 3) uint8 frames at this world's "
                         f"size, got {frames.dtype} of shape {frames.shape}")
    nvec, T = np.asarray(nvec), len(frames)
    acts = np.full((T, len(nvec)), -1, np.int64) if actions is None else np.asarray(actions)
    if acts.ndim == 1 and len(nvec) == 1:
        acts = acts[:, None]
    if acts.shape != (T, len(nvec)) or not np.issubdtype(acts.dtype, np.integer):
        raise ValueError(f"prompt actions must be {T} integer actions of {len(nvec)} part(s), the action into each "
                         f"frame (-1: none), got {acts.dtype} of shape {acts.shape}")
    if ((acts < -1) | (acts >= nvec)).any():
        raise ValueError(f"prompt actions out of range: part i must be -1 (none) or in [0, {nvec.tolist()}[i])")
    if T < k:
        noop = np.zeros(len(nvec), np.int64) if noop is None else np.asarray(noop, np.int64)
        still = np.tile(noop, (k - T, 1))
        still[0] = -1
        frames = np.concatenate([np.repeat(frames[:1], k - T, 0), frames])
        acts = np.concatenate([still, acts.astype(np.int64)])
        acts[k - T] = np.where(acts[k - T] < 0, noop, acts[k - T])  # after the still frames, the first is no move
    return frames, acts.astype(np.int64)
