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


class CrafterRecording:
    """One Crafter episode being recorded, a step at a time: `step(action)` plays and writes a
    frame, `close()` finishes the files. The recorder below drives one with a scripted policy; the
    learning loop (`agents.loop`) drives many side by side with a batched one."""

    def __init__(self, out_dir: str | Path, name: str, seed: int, max_steps: int = 10_000,
                 size: tuple[int, int] = (64, 64), view: tuple[int, int] = (9, 9), area: tuple[int, int] = (64, 64)):
        self.size, self.view, self.area, self.seed = tuple(size), tuple(view), tuple(area), seed
        self.env = CrafterEnv(size=size, view=view, area=area, length=max_steps)
        self.obs, self.info = self.env.reset(seed=seed)
        self.before = dict(self.info["achievements"])
        self.writer = EpisodeWriter(out_dir, name, fps=self.env.metadata["render_fps"])
        self.record = frame_record(self.info, 0.0, False, view)
        self.unlocked: list[str] = []
        self.episode_return, self.steps = 0.0, 0
        self.done = self.terminated = False

    def step(self, action: int) -> float:
        """Write the current frame with `action`, play it; returns the reward. `done` tells when
        the episode ended (death or the game's length), and then the last frame is written too."""
        if self.done:
            raise RuntimeError("the episode is over: close() it")
        action = int(action)
        self.record["action"], self.record["action_name"] = action, ACTION_NAMES[action]
        self.writer.add(self.obs, self.record)
        self.obs, reward, self.terminated, truncated, self.info = self.env.step(action)
        self.done = self.terminated or truncated
        self.steps += 1
        self.episode_return += reward
        self.record = frame_record(self.info, reward, self.done, self.view)
        new = [k for k, v in self.info["achievements"].items() if v > 0 and self.before[k] == 0]
        if new:
            self.record["unlocked"] = new
            self.unlocked += new
            self.before.update({k: 1 for k in new})
        if self.done:
            self.writer.add(self.obs, self.record)  # the last frame has no action
        return float(reward)

    def close(self, **extra) -> EpisodeInfo:
        """Finish the files (an episode cut short ends on its current frame, not done) and return
        its index entry."""
        if not self.done:
            self.writer.add(self.obs, self.record)
            extra.setdefault("cut", True)
        try:
            return self.writer.close(game="crafter", seed=self.seed, size=list(self.size), view=list(self.view),
                                     area=list(self.area), died=bool(self.terminated),
                                     achievements=sorted(self.unlocked), episode_return=round(self.episode_return, 3),
                                     **extra)
        finally:
            self.env.close()

    def abort(self) -> None:
        """Drop the episode's files."""
        self.writer.abort()
        self.env.close()


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
    rec = CrafterRecording(out_dir, name, seed, max_steps, size, view, area)
    try:
        while not rec.done:
            rec.step(int(policy(rec.info)))
        return rec.close()
    except BaseException:
        rec.abort()
        raise
