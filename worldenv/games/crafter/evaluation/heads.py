"""The world's heads on real frames: does the unlock head fire when the game pays an achievement,
does it name the right one, and does the termination head fire when the player dies?"""

from __future__ import annotations

import numpy as np

from model.data import actions_into_frames, episode_arrays
from model.recordings import list_episodes
from model.rollout import DreamRollout, WorldModel
from worldenv.games.crafter.evaluation.dreams import reward_step


def reward_precision_recall(world: WorldModel, data: str, k: int, max_frames: int, seed: int,
                            roll_kw: dict | None = None) -> dict:
    """Unlock-head precision/recall on real frames of whole episodes (teacher forcing), the share of
    real unlocks whose achievement the head names right, and the termination head's precision/recall
    on the last frames of episodes that ended in death; until `max_frames` frames are seen."""
    tp = fp = fn = 0
    done_tp = done_fp = done_fn = 0
    frames_seen = named = named_right = 0
    names = world.achievements
    for info in list_episodes(data):
        ep = episode_arrays(data, info)
        if len(ep.frames) <= k:
            continue
        roll = DreamRollout(world, batch=1, seed=seed, reward_step=reward_step(world), **(roll_kw or {}))
        into = actions_into_frames(ep.actions)
        roll.reset(ep.frames[None, :k], into[None, :k])
        for t in range(k, len(ep.frames)):
            heads = roll.observe(ep.frames[t][None], into[t][None])[0]
            pred, real = heads[0] > 0, ep.rewards[t] >= 0.5
            tp += pred and real
            fp += pred and not real
            fn += real and not pred
            if names and ep.unlocked[t] is not None:  # does the head name the right achievement?
                named += 1
                named_right += names[int(np.argmax(heads[3:]))] == ep.unlocked[t]
            # a real termination is the last frame of an episode that ended in death (not truncation)
            pd, rd = heads[2] > 0, bool(ep.dones[t]) and bool(info.extra.get("died", True))
            done_tp += pd and rd
            done_fp += pd and not rd
            done_fn += rd and not pd
            frames_seen += 1
        if frames_seen >= max_frames:
            break
    return {"frames": frames_seen, "unlocks": int(tp + fn),
            "unlock_precision": tp / max(1, tp + fp), "unlock_recall": tp / max(1, tp + fn),
            "termination_precision": done_tp / max(1, done_tp + done_fp),
            "termination_recall": done_tp / max(1, done_tp + done_fn),
            "achievement_named_accuracy": named_right / named if named else None}
