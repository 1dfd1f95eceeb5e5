"""Play one Crafter episode with a policy and write it as a recording (mp4 + jsonl)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from model.recordings import EpisodeInfo, EpisodeWriter
from worldenv.games.crafter.env import ACTION_NAMES, CrafterEnv

# policy(info) -> action id; info is CrafterEnv's info dict of the current frame.
Policy = Callable[[dict], int]


def local_tile_ids(info: dict, view: tuple[int, int]) -> list[list[int]]:
    """The semantic ids of the local view's tiles, rows top to bottom ((view_h - 2) x view_w).

    Stored per frame so frame parsers and caption checks can be tested against the game's
    own state. Tiles outside the world get -1.
    """
    sem = info["semantic"]
    w, h = view[0], view[1] - 2
    x0, y0 = int(info["player_pos"][0]) - w // 2, int(info["player_pos"][1]) - h // 2
    rows = []
    for y in range(y0, y0 + h):
        row = []
        for x in range(x0, x0 + w):
            inside = 0 <= x < sem.shape[0] and 0 <= y < sem.shape[1]
            row.append(int(sem[x, y]) if inside else -1)
        rows.append(row)
    return rows


def frame_record(info: dict, reward: float, done: bool, view: tuple[int, int]) -> dict:
    """The jsonl line of one frame, without its action (filled in once the policy acts)."""
    return {
        "action": None,
        "reward": float(reward),
        "done": bool(done),
        "step": info["step"],
        "inventory": {k: int(v) for k, v in info["inventory"].items()},
        "caption": info["caption"],
        "player_pos": [int(p) for p in info["player_pos"]],
        "facing": list(info["facing"]),
        "sleeping": info["sleeping"],
        "daylight": round(info["daylight"], 4),
        "tiles": local_tile_ids(info, view),
    }


def record_crafter_episode(
    out_dir: str | Path,
    name: str,
    seed: int,
    policy: Policy,
    max_steps: int = 10_000,
    size: tuple[int, int] = (64, 64),
    view: tuple[int, int] = (9, 9),
    area: tuple[int, int] = (64, 64),
) -> EpisodeInfo:
    """Run `policy` in Crafter from `reset(seed=seed)` and write `<out_dir>/<name>.mp4/.jsonl`.

    The episode ends at death, at the game's length, or after `max_steps` actions. One jsonl
    line per frame: the action taken after the frame, the reward and done of arriving at it.
    """
    env = CrafterEnv(size=size, view=view, area=area, length=max_steps)
    obs, info = env.reset(seed=seed)
    achievements_before = dict(info["achievements"])
    with EpisodeWriter(out_dir, name, fps=env.metadata["render_fps"]) as writer:
        record = frame_record(info, 0.0, False, view)
        unlocked_total: list[str] = []
        episode_return = 0.0
        while True:
            action = int(policy(info))
            record["action"] = action
            record["action_name"] = ACTION_NAMES[action]
            writer.add(obs, record)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            episode_return += reward
            record = frame_record(info, reward, done, view)
            unlocked = [k for k, v in info["achievements"].items() if v > 0 and achievements_before[k] == 0]
            if unlocked:
                record["unlocked"] = unlocked
                unlocked_total += unlocked
                achievements_before.update({k: 1 for k in unlocked})
            if done:
                writer.add(obs, record)  # the last frame has no action
                break
        ep = writer.close(
            game="crafter",
            seed=seed,
            size=list(size),
            view=list(view),
            area=list(area),
            died=bool(terminated),
            achievements=sorted(unlocked_total),
            episode_return=round(episode_return, 3),
        )
    env.close()
    return ep
