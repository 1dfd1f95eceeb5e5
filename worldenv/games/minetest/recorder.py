"""Play one Minetest episode with a policy and write it as a recording (mp4 + jsonl, the VPT layout).

Each jsonl line is one frame: VPT's raw-input fields (`keyboard`, `mouse`, `isGuiOpen`) and the
MultiDiscrete `action` taken after the frame (null on the last frame), the MineRL `minerl_action`,
`reward`/`done` of arriving at the frame, the ground truth (`pose`, `hp`, `inventory`, ...) and a
`caption` written from the game state. `model.data.ClipDataset` reads the `action` vectors;
`model.vpt.vpt_actions` reads the same actions back from `keyboard`/`mouse`.

Video: lossy H.264 (libx264, crf 18, yuv420p; `model.recordings.EpisodeWriter`): the frames are
rendered 3D with filtered textures, not pixel art, and lossless video is several times larger.

    python -m worldenv.games.minetest.recorder OUT_DIR --episodes 1 --max-steps 200 --measure

records episodes into OUT_DIR (with index.json) and, with --measure, prints the frames/s, the CPU
the game used, the video's bytes per frame and its reconstruction PSNR.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from model.recordings import EpisodeInfo, EpisodeWriter, decode_video
from model.vpt import (
    CAMERA_SCALE,
    KEY_TO_BUTTON,
    MINERL_BUTTONS,
    MOUSE_TO_BUTTON,
    check_multidiscrete,
    minerl_to_multidiscrete,
    multidiscrete_to_minerl,
)
from worldenv.games.minetest.env import DEFAULT_SIZE, TICK_RATE, MinetestEnv, tick_cpu
from worldenv.games.minetest.explore import EXPLORE_KIT, ExplorePolicy, random_policy

# policy(info) -> action (a 25-long MultiDiscrete vector or a MineRL action dict)
Policy = Callable[[dict], Any]

_BUTTON_KEY = {button: key for key, button in KEY_TO_BUTTON.items()}
_BUTTON_MOUSE = {button: b for b, button in MOUSE_TO_BUTTON.items()}
POLICIES = ("explore", "loop", "random")


def vpt_input(vec: np.ndarray | None, prev: np.ndarray | None) -> tuple[dict, dict]:
    """VPT's `keyboard` and `mouse` fields of a MultiDiscrete action (None: nothing held).

    mouse.dx/dy are in VPT's pixels (CAMERA_SCALE degrees each), so `model.vpt.vpt_record_to_minerl`
    gives back the action's camera and the same bins."""
    if vec is None:
        return {"keys": [], "newKeys": [], "chars": ""}, {"dx": 0.0, "dy": 0.0, "buttons": [], "newButtons": []}
    action = multidiscrete_to_minerl(vec)
    before = set() if prev is None else {b for b, v in multidiscrete_to_minerl(prev).items() if b != "camera" and v}
    held = [b for b in MINERL_BUTTONS if action[b]]
    keys = [_BUTTON_KEY[b] for b in held if b in _BUTTON_KEY]
    new_keys = [_BUTTON_KEY[b] for b in held if b in _BUTTON_KEY and b not in before]
    buttons = [_BUTTON_MOUSE[b] for b in held if b in _BUTTON_MOUSE]
    new_buttons = [_BUTTON_MOUSE[b] for b in held if b in _BUTTON_MOUSE and b not in before]
    pitch, yaw = (float(c) for c in action["camera"])
    mouse = {"dx": yaw / CAMERA_SCALE, "dy": pitch / CAMERA_SCALE, "buttons": buttons, "newButtons": new_buttons}
    return {"keys": keys, "newKeys": new_keys, "chars": ""}, mouse


def _json_action(vec: np.ndarray) -> dict:
    action = multidiscrete_to_minerl(vec)
    out = {k: int(v) for k, v in action.items() if k != "camera"}
    out["camera"] = [float(c) for c in action["camera"]]
    return out


def frame_record(info: dict, reward: float, done: bool) -> dict:
    """The jsonl line of one frame, without its action (filled in once the policy acts)."""
    pose = {k: round(float(v), 4) for k, v in info["pose"].items()}
    return {
        "action": None,
        "reward": float(reward),
        "done": bool(done),
        "step": int(info["step"]),
        "isGuiOpen": False,
        "pose": pose,
        "hp": info["hp"],
        "breath": info["breath"],
        "wielded": info["wielded"],
        "wield_index": info["wield_index"],
        "inventory": dict(info["inventory"]),
        "time_of_day": round(float(info["time_of_day"]), 5),
        "ground": info["ground"],
        "biome": info["biome"],
        "pointed": info["pointed"],
        "caption": info["caption"],
        "tick_duration": round(float(info["tick_duration"]), 4),
        **({"new_items": list(info["new_items"])} if info["new_items"] else {}),
    }


def _as_vector(action) -> np.ndarray:
    if isinstance(action, dict):
        return minerl_to_multidiscrete(action)
    vec = check_multidiscrete(action)
    if vec.shape != (len(MINERL_BUTTONS) + 2,):
        raise ValueError(f"policy returned an action of shape {vec.shape}, expected (25,)")
    return vec


def _loop_errors(loop: dict, records: list[dict]) -> dict:
    """A loop's pose errors between its start and end frames (blocks, degrees)."""
    a, b = records[loop["start"]]["pose"], records[loop["end"]]["pose"]
    return {
        **loop,
        "pos_error": round(math.dist((a["x"], a["y"], a["z"]), (b["x"], b["y"], b["z"])), 4),
        "yaw_error": round(abs((b["yaw"] - a["yaw"] + 180.0) % 360.0 - 180.0), 3),
        "pitch_error": round(abs(b["pitch"] - a["pitch"]), 3),
    }


def make_policy(policy: str | Policy, seed: int) -> Policy:
    """A policy by name ("explore", "loop": explore with loops as the main activity, "random"), or
    `policy` itself when it is a callable."""
    if callable(policy):
        return policy
    if policy == "explore":
        return ExplorePolicy(seed)
    if policy == "loop":
        return ExplorePolicy(seed, loop_episode=True)
    if policy == "random":
        return random_policy(seed)
    raise ValueError(f"policy must be one of {POLICIES} or a callable info -> action, got {policy!r}")


def record_minetest_episode(
    out_dir: str | Path,
    name: str,
    seed: int,
    policy: str | Policy = "explore",
    max_steps: int = 1200,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    tick_rate: float = TICK_RATE,
    time_of_day: float | str | None = "random",
    start_items: dict[str, int] | None = None,
    env: MinetestEnv | None = None,
    keep_frames: list | None = None,
    **env_kwargs,
) -> EpisodeInfo:
    """Run `policy` in Minetest from `reset(seed=seed)` and write `<out_dir>/<name>.mp4` + `.jsonl`.

    `policy`: "explore" (`ExplorePolicy`), "loop" (the same with loops as the main activity) or
    "random", each seeded with `seed`, or a callable `info -> action` (a MultiDiscrete vector or a
    MineRL dict). The episode ends at death or after `max_steps` actions (so at most
    `max_steps + 1` frames; the last frame's action is null). `time_of_day`: 0..1, None for the
    game's start (06:00), or "random" (drawn from `seed`: day 85 %, dusk and night 15 %).
    `start_items`: {item: count}; None gives the explore kit for "explore"/"loop" and nothing
    otherwise. `env`: an open `MinetestEnv` with MultiDiscrete actions to reuse (it is reset, not
    closed; its size wins); otherwise one is made with `size`, `tick_rate` and `env_kwargs` and
    closed at the end. `keep_frames`: a list that receives the frames as encoded (for measuring the
    codec). The index entry's extras hold the seed, map seed, policy, loops (with their measured
    pose errors), new items, tick timings and the codec.
    """
    rng = np.random.default_rng([int(seed), 37])
    policy_name = policy if isinstance(policy, str) else getattr(policy, "__name__", type(policy).__name__)
    act = make_policy(policy, seed)
    if start_items is None:
        start_items = dict(EXPLORE_KIT) if policy in ("explore", "loop") else {}
    if time_of_day == "random":
        time_of_day = float(rng.uniform(0.23, 0.77) if rng.random() < 0.85 else rng.uniform(-0.25, 0.23) % 1.0)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")

    own = env is None
    if own:
        env = MinetestEnv(size=size, tick_rate=tick_rate, **env_kwargs)
    elif env.action_format != "multidiscrete":
        raise ValueError("record_minetest_episode needs an env with action_format='multidiscrete'")
    try:
        options = {"start_items": start_items, "time_of_day": time_of_day}
        obs, info = env.reset(seed=int(seed), options=options)
        records: list[dict] = []
        ticks: list[float] = []
        new_items: list[str] = []
        episode_return, died = 0.0, False
        with EpisodeWriter(out_dir, name, fps=env.tick_rate, lossless=False) as writer:
            record = frame_record(info, 0.0, False)
            prev = None
            for t in range(max_steps + 1):
                if t < max_steps and not record["done"]:
                    vec = _as_vector(act(info))
                    record["action"] = vec.tolist()
                    record["minerl_action"] = _json_action(vec)
                    record["keyboard"], record["mouse"] = vpt_input(vec, prev)
                    record["phase"] = getattr(act, "phase", None)
                    if getattr(act, "loop_id", None) is not None:
                        record["loop"] = act.loop_id
                    prev = vec
                else:
                    vec = None
                    record["minerl_action"] = None
                    record["keyboard"], record["mouse"] = vpt_input(None, None)
                writer.add(obs, record)
                records.append(record)
                if keep_frames is not None:
                    keep_frames.append(obs)
                if vec is None:
                    break
                obs, reward, terminated, truncated, info = env.step(vec)
                ticks.append(info["tick_duration"])
                episode_return += reward
                new_items += info["new_items"]
                died = died or terminated
                record = frame_record(info, reward, terminated)
            loops = [_loop_errors(lp, records) for lp in getattr(act, "loops", []) if lp.get("end") is not None]
            ticks_arr = np.array(ticks or [0.0])
            ep = writer.close(
                game="minetest",
                env_id="SoraWorld/Minetest-v0",
                seed=int(seed),
                map_seed=env.map_seed,
                policy=policy_name,
                loop_episode=bool(getattr(act, "loop_episode", False)),
                loops=loops,
                size=list(env.size),
                tick_rate=env.tick_rate,
                time_of_day=time_of_day,
                start_items=start_items,
                new_items=new_items,
                died=bool(died),
                episode_return=round(episode_return, 3),
                tick_mean=round(float(ticks_arr.mean()), 4),
                tick_max=round(float(ticks_arr.max()), 4),
                tick_overruns=int((ticks_arr > 1.5 / env.tick_rate).sum()),
                codec="libx264 crf 18 yuv420p",
            )
    finally:
        if own:
            env.close()
    return ep


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main(argv: list[str] | None = None) -> None:
    from model.recordings import write_index

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--policy", default="explore", choices=POLICIES)
    p.add_argument("--size", type=int, nargs=2, default=list(DEFAULT_SIZE))
    p.add_argument("--fps-max", type=int, default=40, help="the client's frame rate cap")
    p.add_argument("--measure", action="store_true", help="print frames/s, CPU, bytes/frame and PSNR")
    args = p.parse_args(argv)
    env = MinetestEnv(size=tuple(args.size), fps_max=args.fps_max)
    episodes = []
    try:
        for i in range(args.episodes):
            frames: list = []
            t0 = time.monotonic()
            ep = record_minetest_episode(args.out, f"minetest_{args.policy}_{args.seed + i:07d}", args.seed + i,
                                         args.policy, args.max_steps, env=env, keep_frames=frames)
            wall = time.monotonic() - t0
            episodes.append(ep)
            write_index(args.out, episodes, game="minetest")
            if args.measure:
                decoded = decode_video(Path(args.out) / f"{ep.name}.mp4")
                video = (Path(args.out) / f"{ep.name}.mp4").stat().st_size
                print(f"{ep.name}: {ep.frames} frames in {wall:.1f} s (with the reset); ticks mean "
                      f"{ep.extra['tick_mean'] * 1000:.1f} ms, max {ep.extra['tick_max'] * 1000:.1f} ms, "
                      f"{ep.extra['tick_overruns']} over 1.5 periods; video {video / ep.frames:.0f} bytes/frame, "
                      f"PSNR {psnr(np.stack(frames), decoded):.2f} dB (lossless libx264rgb: "
                      f"{lossless_bytes(frames, env.tick_rate) / ep.frames:.0f} bytes/frame); loops {ep.extra['loops']}")
        if args.measure:
            measure_rate(env)
    finally:
        env.close()


def lossless_bytes(frames: list, fps: float) -> int:
    """The size of `frames` as lossless video (libx264rgb, crf 0: the Crafter recordings' codec)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with EpisodeWriter(tmp, "lossless", fps=fps, lossless=True) as writer:
            for frame in frames:
                writer.add(frame, {})
            writer.close(game="minetest")
        return (Path(tmp) / "lossless.mp4").stat().st_size


def measure_rate(env: MinetestEnv, steps: int = 200) -> None:
    """Print the frames/s of `steps` explore steps and the CPU the client and Xvfb used meanwhile."""
    policy = ExplorePolicy(1)
    obs, info = env.reset(seed=1, options={"start_items": EXPLORE_KIT})
    pids = {"minetest": env.client.pid, "xvfb": env.display.pid, "python (env + policy)": os.getpid()}
    cpu0 = {k: tick_cpu(p) for k, p in pids.items()}
    t0 = time.monotonic()
    distinct, prev = 0, obs
    for _ in range(steps):
        obs, *_rest, info = env.step(policy(info))
        distinct += int(not np.array_equal(obs, prev))
        prev = obs
    wall = time.monotonic() - t0
    cpu = {k: (tick_cpu(p) - cpu0[k]) / wall * 100 for k, p in pids.items()}
    rss = {k: _rss_mb(p) for k, p in pids.items()}
    print(f"{steps} steps in {wall:.2f} s: {steps / wall:.1f} frames/s ({distinct} differ from the one before); "
          f"CPU % of one core: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
          + "; memory MB: " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
