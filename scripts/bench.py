"""Speed of the dream vs the real game, measured in the same run. Prints a table, writes JSON.

    python scripts/bench.py                          # shipped world, batch 1 + 8/32/64
    python scripts/bench.py --world runs/world/world --batches 1 8 --steps-per-env 50 --json runs/bench.json

- Real Crafter: a random policy's steps/s including resets (world generation), one process.
- Dream batch 1: per-step latency (all denoising steps + cache update + decode), p50/p95 ms.
- Dream batch N: env-steps/s of DreamVectorEnv with N dreams in one model call.
Each dream rate is also given as a ratio to the real game's steps/s from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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


def bench_real(seconds: float, seed: int = 0) -> float:
    from worldenv.games.crafter.env import CrafterEnv

    env = CrafterEnv()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(int(rng.integers(17)))
        steps += 1
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def bench_single(world, n: int, denoise_steps: int, bf16: bool, keep_daylight: bool | None = None) -> dict:
    from worldenv.dream_env import DreamEnv

    env = DreamEnv(_world_model=world, steps=denoise_steps, bf16=bf16, keep_daylight=keep_daylight)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):  # warm-up
        env.step(int(rng.integers(17)))
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        env.step(int(rng.integers(17)))
        ms.append((time.perf_counter() - t0) * 1000)
    ms = np.array(ms)
    return {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "steps_per_s": float(1000 / ms.mean())}


def bench_batch(world, batch: int, n: int, denoise_steps: int, bf16: bool, keep_daylight: bool | None = None) -> dict:
    from worldenv.dream_vector_env import DreamVectorEnv

    venv = DreamVectorEnv(num_envs=batch, _world_model=world, steps=denoise_steps, bf16=bf16, keep_daylight=keep_daylight)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    venv.step(rng.integers(0, 17, batch))
    t0 = time.perf_counter()
    for _ in range(n):
        venv.step(rng.integers(0, 17, batch))
    dt = time.perf_counter() - t0
    return {"env_steps_per_s": batch * n / dt, "ms_per_batch_step": 1000 * dt / n}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder (default: shipped)")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32, 64])
    p.add_argument("--single-steps", type=int, default=100, help="timed steps at batch 1")
    p.add_argument("--steps-per-env", type=int, default=20, help="timed steps per batched run")
    p.add_argument("--denoise-steps", type=int, default=2)
    p.add_argument("--real-seconds", type=float, default=10.0)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--keep-daylight", action=argparse.BooleanOptionalAction, default=None,
                   help="the dreams follow the game's day-night clock (default: on for Crafter worlds, as SoraWorld-v0)")
    p.add_argument("--json", default="runs/bench.json")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from model.training import bf16_in_effect
    from worldenv.dream_env import load_world

    world = load_world(a.world or None, "cpu")
    rss0 = rss_mb()
    real = bench_real(a.real_seconds)
    single = bench_single(world, a.single_steps, a.denoise_steps, a.bf16, a.keep_daylight)
    batched = {b: bench_batch(world, b, a.steps_per_env, a.denoise_steps, a.bf16, a.keep_daylight) for b in a.batches}
    result = {
        "world": a.world or "shipped", "denoise_steps": a.denoise_steps, "keep_daylight": a.keep_daylight, "bf16": bf16_in_effect(torch.device("cpu"), a.bf16),
        "threads": torch.get_num_threads(), "cpu": cpu_name(), "real_crafter_steps_per_s": real,
        "dream_batch1": {**single, "ratio_to_real": single["steps_per_s"] / real},
        "dream_batched": {str(b): {**r, "ratio_to_real": r["env_steps_per_s"] / real} for b, r in batched.items()},
        "rss_mb_start": rss0, "rss_mb_end": rss_mb(),
    }
    print(f"bf16: {'on' if result['bf16'] else 'off (fp32)'}, {result['threads']} threads, CPU: {result['cpu']}")
    print(f"{'run':<22}{'steps/s':>10}{'x real':>9}{'p50 ms':>9}{'p95 ms':>9}")
    print(f"{'real Crafter (resets)':<22}{real:>10.1f}{1.0:>9.2f}")
    print(f"{'dream batch 1':<22}{single['steps_per_s']:>10.1f}{single['steps_per_s'] / real:>9.2f}"
          f"{single['p50_ms']:>9.1f}{single['p95_ms']:>9.1f}")
    for b, r in batched.items():
        print(f"{'dream batch ' + str(b):<22}{r['env_steps_per_s']:>10.1f}{r['env_steps_per_s'] / real:>9.2f}"
              f"{r['ms_per_batch_step']:>9.1f}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {a.json}")
    return result


if __name__ == "__main__":
    main()
