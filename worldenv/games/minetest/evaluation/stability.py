"""Stability: a long closed-loop dream (5,000 steps by default) must not collapse to noise, blur or
a frozen frame. Every `every` steps: the frames' mean grey level, their contrast (std over a frame's
pixels) and the mean absolute change from one frame to the next, averaged over the last `every`
steps, next to the same on real held-out frames; and a snapshot for the filmstrip.

The explore policy (worldenv/games/minetest/explore.py) steers by the real game's pose, which a
dream does not have, so the actions are either the held-out recordings' own (the explore or loop
policy's actions as recorded, played back in order: `recorded`) or a random walk with held buttons
and a smooth camera (`random-walk`)."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from model.rollout import DreamRollout
from model.vpt import camera_to_bins
from worldenv.games.minetest.evaluation.data import BUTTON, noop_action

POLICIES = ("recorded", "random-walk")
MOVES = (("forward",), ("forward", "sprint"), ("back",), ("left",), ("right",), ())
MOVE_WEIGHTS = (0.4, 0.1, 0.05, 0.1, 0.1, 0.25)


def random_walk(seed: int) -> Iterator[np.ndarray]:
    """MultiDiscrete actions (25,) of a random walker: a movement held for a while (mostly forward), jumps
    and digging now and then, and a camera whose turn rate drifts smoothly (yaw up to ±10°, pitch
    kept within ±60°)."""
    rng = np.random.default_rng(seed)
    move, attack, v_yaw, v_pitch, pitch = (), False, 0.0, 0.0, 0.0
    while True:
        if rng.random() < 0.05:
            move = MOVES[rng.choice(len(MOVES), p=MOVE_WEIGHTS)]
        if rng.random() < 0.03:
            attack = not attack
        v_yaw = float(np.clip(0.9 * v_yaw + rng.normal(0, 1.5), -10, 10))
        v_pitch = float(np.clip(0.8 * v_pitch + rng.normal(0, 0.5), -5, 5))
        if abs(pitch + v_pitch) > 60:
            v_pitch = -v_pitch
        pitch += v_pitch
        a = noop_action()
        for b in move:
            a[BUTTON[b]] = 1
        a[BUTTON["jump"]] = int(rng.random() < 0.05)
        a[BUTTON["attack"]] = int(attack)
        a[-2:] = camera_to_bins(np.array([v_pitch, v_yaw]))
        yield a


def frame_stats(frames: np.ndarray) -> dict:
    """Mean grey level, mean per-frame std and mean |frame change| (0..255) of consecutive frames (t, H, W, 3)."""
    f = frames.astype(np.float32)
    change = float(np.abs(np.diff(f, axis=0)).mean()) if len(f) > 1 else 0.0
    return {"mean": float(f.mean()), "std": float(f.reshape(len(f), -1).std(1).mean()), "frame_change": change}


def stability(world, start_clip, start_lead, actions: Iterator[np.ndarray], n_steps: int, every: int, steps: int,
              seed: int, roll_kw: dict) -> tuple[list[dict], np.ndarray]:
    """The dream's statistics every `every` steps (list of {step, mean, std, frame_change}) and its snapshots
    (n, H, W, 3) at those steps, from one real start clip (k, H, W, 3) and the actions that led to it."""
    roll = DreamRollout(world, batch=1, steps=steps, seed=seed, **roll_kw)
    roll.reset(start_clip[None], start_lead[None])
    points, snaps = [], []
    prev = start_clip[-1].astype(np.float32)
    acc = {"mean": 0.0, "std": 0.0, "frame_change": 0.0}
    n = 0
    for t in range(1, n_steps + 1):
        frame = roll.step(next(actions)[None]).frames[0]
        f = frame.astype(np.float32)
        acc["mean"] += float(f.mean())
        acc["std"] += float(f.std())
        acc["frame_change"] += float(np.abs(f - prev).mean())
        prev, n = f, n + 1
        if t % every == 0 or t == n_steps:
            points.append({"step": t, **{key: v / n for key, v in acc.items()}})
            snaps.append(frame)
            acc, n = dict.fromkeys(acc, 0.0), 0
    return points, np.stack(snaps)


def recorded_actions(acts_list: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The recordings' actions in order, over and over."""
    seq = np.concatenate(acts_list)
    while True:
        yield from seq
