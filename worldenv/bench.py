"""Speed of the dream against the real game, measured in the same run. Prints a table, writes JSON.

    soraworld-bench                          # shipped world, batch 1 + 8/32/64, 1 and all threads, quiet and busy
    soraworld-bench --world runs/world/world --batches 1 8 --steps-per-env 50 --json runs/bench.json
    soraworld-bench --threads 1 --no-busy    # one thread count, no second process

- The real game (the world's game plugin, at the world's frame size): a random policy's steps/s
  including resets (world generation), one process.
- Dream batch 1: per-step latency of `DreamEnv` (all denoising steps + cache update + decode), p50/p95 ms.
- Dream batch N: env-steps/s of `DreamVectorEnv` with N dreams in one model call.
Each dream rate is also given as a ratio to the real game's steps/s from the same run. Random
actions are drawn from each env's own action space. The dreams are measured at each torch thread
count of `--threads` (by default 1 and the machine's cores), on the machine as it is ("quiet") and
with a second busy process beside them ("busy", `--busy`: one core spinning, as another job does):
with one other job on a 2-core machine a batch-1 step took p50 835 ms with 2 threads against 41 ms
with 1, which a quiet measurement alone never shows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from model.cli import command_line
from worldenv.cli import rules_from_flag


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo; else the platform's answer): speeds differ by machine."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def bench_real(game, size: tuple[int, int] | None, seconds: float, seed: int = 0) -> float:
    """Steps/s of the real `game` (a `worldenv.games.Game`) at frame size (W, H) under random
    actions, resets included, for about `seconds`."""
    env = game.make_real_env(size)
    steps, t0 = 0, time.perf_counter()
    try:
        env.action_space.seed(seed)
        env.reset(seed=seed)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            steps += 1
            if term or trunc:
                env.reset()
        return steps / (time.perf_counter() - t0)
    finally:
        env.close()


def bench_single(world, n: int, denoise_steps: int, bf16: bool, rules="game") -> dict:
    """Per-step latency of one dream (`DreamEnv` with the game's `rules`) over `n` steps, after 5 warm-up steps."""
    from worldenv.dream_env import DreamEnv

    # threads=None: the dream keeps the threads this process runs with (--threads)
    env = DreamEnv(_world_model=world, rules=rules, steps=denoise_steps, bf16=bf16, threads=None)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(5):  # warm-up
        env.step(env.action_space.sample())
    ms = []
    for _ in range(n):
        action = env.action_space.sample()
        t0 = time.perf_counter()
        env.step(action)
        ms.append((time.perf_counter() - t0) * 1000)
    env.close()
    ms = np.array(ms)
    return {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "steps_per_s": float(1000 / ms.mean())}


def bench_batch(world, batch: int, n: int, denoise_steps: int, bf16: bool, rules="game") -> dict:
    """Env-steps/s of `batch` dreams stepped together (`DreamVectorEnv`) over `n` steps, after one warm-up step."""
    from worldenv.dream_vector_env import DreamVectorEnv

    venv = DreamVectorEnv(num_envs=batch, _world_model=world, rules=rules, steps=denoise_steps, bf16=bf16,
                          threads=None)
    venv.reset(seed=0)
    venv.action_space.seed(0)
    venv.step(venv.action_space.sample())
    t0 = time.perf_counter()
    for _ in range(n):
        venv.step(venv.action_space.sample())
    dt = time.perf_counter() - t0
    venv.close()
    return {"env_steps_per_s": batch * n / dt, "ms_per_batch_step": 1000 * dt / n}


@contextmanager
def busy_process(busy: bool):
    """With `busy`, a second process spinning one core for the duration (a stand-in for another
    job on the machine); else nothing."""
    if not busy:
        yield
        return
    # the spinner checks that its parent lives, so a killed bench leaves no busy core behind
    proc = subprocess.Popen([sys.executable, "-c",
                             f"import os\nwhile os.getppid() == {os.getpid()}:\n    sum(range(10000))"])
    try:
        time.sleep(0.2)  # let it take its core
        yield
    finally:
        proc.kill()
        proc.wait()


def default_thread_counts() -> tuple[int, ...]:
    """1 and the machine's cores (torch's default on a machine of that many), without repeats."""
    return tuple(dict.fromkeys((1, os.cpu_count() or 1)))


def bench(world: str = "", batches=(8, 32, 64), single_steps: int = 100, steps_per_env: int = 20,
          denoise_steps: int = 2, real_seconds: float = 10.0, bf16: bool = True, rules="game",
          threads: tuple[int, ...] | None = None, busy: bool = True) -> dict:
    """The real game's speed, a dream's latency at batch 1 and the batched dreams' throughput for
    the world `world` (a folder or a shipped world's name; "" for the default), with the game's
    dream `rules` ("game", "none" or rule names). The dreams are measured at each torch thread
    count of `threads` (None: the threads this process runs with), quiet and, with `busy`, beside
    a second busy process: `runs` lists them all; `dream_batch1` and `dream_batched` are the
    first (the first thread count, quiet)."""
    from model.training import bf16_in_effect
    from worldenv.worlds import load_world, world_game

    loaded = load_world(world or None, "cpu")
    game = world_game(loaded)
    if game is None:
        raise SystemExit("error: this world names no game (its meta has no 'game'), so there is no real game to "
                         "compare its dreams with")
    h, w = loaded.frame_shape[:2]
    rss0 = rss_mb()
    real = bench_real(game, (w, h), real_seconds)
    before = torch.get_num_threads()
    runs = []
    try:
        for load in ("quiet", "busy") if busy else ("quiet",):
            with busy_process(load == "busy"):
                for t in threads or (before,):
                    torch.set_num_threads(int(t))
                    single = bench_single(loaded, single_steps, denoise_steps, bf16, rules)
                    batched = {b: bench_batch(loaded, b, steps_per_env, denoise_steps, bf16, rules) for b in batches}
                    runs.append({
                        "threads": int(t), "load": load,
                        "dream_batch1": {**single, "ratio_to_real": single["steps_per_s"] / real},
                        "dream_batched": {str(b): {**r, "ratio_to_real": r["env_steps_per_s"] / real}
                                          for b, r in batched.items()}})
    finally:
        torch.set_num_threads(before)
    return {
        "world": world or "shipped", "game": game.name, "frame_size": [int(w), int(h)], "denoise_steps": denoise_steps,
        "rules": rules, "bf16": bf16_in_effect(torch.device("cpu"), bf16),
        "threads": runs[0]["threads"], "cpus": os.cpu_count(), "cpu": cpu_name(), "real_steps_per_s": real,
        "dream_batch1": runs[0]["dream_batch1"], "dream_batched": runs[0]["dream_batched"], "runs": runs,
        "rss_mb_start": rss0, "rss_mb_end": rss_mb(),
    }


def print_table(result: dict) -> None:
    real = result["real_steps_per_s"]
    print(f"bf16: {'on' if result['bf16'] else 'off (fp32)'}, {result.get('cpus')} cores, CPU: {result['cpu']}")
    print(f"{'run':<22}{'threads':>8}{'machine':>8}{'steps/s':>10}{'x real':>9}{'p50 ms':>9}{'p95 ms':>9}")
    print(f"{'real ' + result['game'] + ' (resets)':<22}{'':>8}{'quiet':>8}{real:>10.1f}{1.0:>9.2f}")
    for run in result.get("runs") or [{"threads": result["threads"], "load": "quiet",
                                       "dream_batch1": result["dream_batch1"], "dream_batched": result["dream_batched"]}]:
        single, where = run["dream_batch1"], f"{run['threads']:>8}{run['load']:>8}"
        print(f"{'dream batch 1':<22}{where}{single['steps_per_s']:>10.1f}{single['steps_per_s'] / real:>9.2f}"
              f"{single['p50_ms']:>9.1f}{single['p95_ms']:>9.1f}")
        for b, r in run["dream_batched"].items():
            print(f"{'dream batch ' + b:<22}{where}{r['env_steps_per_s']:>10.1f}{r['env_steps_per_s'] / real:>9.2f}"
                  f"{r['ms_per_batch_step']:>9.1f}")


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder or shipped world's name (default: the shipped one)")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32, 64])
    p.add_argument("--single-steps", type=int, default=100, help="timed steps at batch 1")
    p.add_argument("--steps-per-env", type=int, default=20, help="timed steps per batched run")
    p.add_argument("--denoise-steps", type=int, default=2)
    p.add_argument("--real-seconds", type=float, default=10.0)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch CPU thread counts to measure the dreams at (default: 1 and the machine's cores, "
                        f"here {' '.join(map(str, default_thread_counts()))}; 0: torch's default)")
    p.add_argument("--busy", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure beside a second busy process (one core spinning, as another job does)")
    p.add_argument("--rules", nargs="+", default=["game"], metavar="RULE",
                   help="the game's dream rules: 'game' (its default rules, as the dream env plays), 'none', or "
                        "rule names (see the game plugin's make_rules)")
    p.add_argument("--json", default="runs/bench.json")
    a = p.parse_args(argv)
    threads = tuple(a.threads) if a.threads else default_thread_counts()
    if any(t < 0 for t in threads):
        p.error("--threads must be >= 0 (0: torch's default)")
    threads = tuple(dict.fromkeys(t or torch.get_num_threads() for t in threads))
    try:
        rules = rules_from_flag(a.rules)
    except ValueError as e:
        p.error(str(e))
    result = bench(a.world, tuple(a.batches), a.single_steps, a.steps_per_env, a.denoise_steps, a.real_seconds,
                   a.bf16, rules, threads, a.busy)
    print_table(result)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {a.json}")
    return result
