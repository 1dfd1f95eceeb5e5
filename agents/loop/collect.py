"""Phase 1 of the loop: the current policy plays real Crafter in `num_envs` games side by side
(one batched policy call a step), and every step is written as a recording, as the collector's
episodes are (`worldenv.games.crafter.recorder.CrafterRecording`): the data stays reusable."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from model.recordings import EpisodeInfo, write_index
from worldenv.games.crafter.env import ACTION_NAMES
from worldenv.games.crafter.recorder import CrafterRecording

N_ACTIONS = len(ACTION_NAMES)


def collect_real(act: Callable[[np.ndarray], np.ndarray], out: str | Path, steps: int, num_envs: int = 16,
                 seed: int = 0, epsilon: float = 0.0, size: tuple[int, int] = (72, 72),
                 view: tuple[int, int] = (9, 9), progress: bool = True) -> list[EpisodeInfo]:
    """Play `steps` real steps with `act` (a batch of frames (n, H, W, 3) -> actions), a share
    `epsilon` of them uniformly random, and write `<out>/<name>.mp4/.jsonl` per episode and
    `<out>/index.json`. Episode i uses seed `seed + i`; the episodes still running when the budget
    is spent are written cut short (index "cut": true). A failure leaves no partial episode."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    games: list[CrafterRecording | None] = [None] * min(num_envs, steps)
    infos: list[EpisodeInfo] = []
    started = 0

    def start(j: int) -> None:
        nonlocal started
        games[j] = CrafterRecording(out, f"loop_{seed + started:07d}", seed + started, size=size, view=view)
        started += 1

    taken = 0
    bar = tqdm(total=steps, desc="collect real", unit="step", disable=not progress)
    try:
        for j in range(len(games)):
            start(j)
        while taken < steps:
            live = [j for j, g in enumerate(games) if g is not None][: steps - taken]
            actions = np.asarray(act(np.stack([games[j].obs for j in live]))).reshape(len(live))
            explore = rng.random(len(live)) < epsilon
            actions[explore] = rng.integers(0, N_ACTIONS, int(explore.sum()))
            for j, a in zip(live, actions, strict=True):
                g = games[j]
                g.step(int(a))
                taken += 1
                if g.done:
                    infos.append(g.close())
                    games[j] = None
                    if taken < steps:
                        start(j)
            bar.update(len(live))
        for j, g in enumerate(games):
            if g is not None:
                if g.steps:  # cut short by the budget
                    infos.append(g.close())
                else:  # started after the budget's last step was given out: nothing to keep
                    g.abort()
                games[j] = None
    except BaseException:
        for g in games:
            if g is not None:
                g.abort()
        raise
    finally:
        bar.close()
    infos.sort(key=lambda e: e.name)
    write_index(out, infos, game="crafter")
    return infos
