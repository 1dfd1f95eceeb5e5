"""Plumbing shared by the training scripts: devices, DDP, LR schedule, CSV logs, resumable state.

A training state file (`last.safetensors`) holds the model weights, the optimizer moments and
the step, written atomically, so a run killed at any moment resumes from its last checkpoint
with at most one checkpoint interval lost.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from model.checkpoint import (
    CheckpointError,
    config_differences,
    config_from_dict,
    load_checkpoint,
    load_optimizer_tensors,
    load_state_strict,
    optimizer_tensors,
    save_checkpoint,
)


@dataclass
class Dist:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; otherwise the named device (clear error if absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available (use 'cpu' or 'auto')")
    return torch.device(name)


def setup_distributed(device: str = "auto", threads: int = 0) -> Dist:
    """Join a torchrun group if RANK/WORLD_SIZE are set (gloo on CPU, nccl on GPU)."""
    if threads > 0:
        torch.set_num_threads(threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if world == 1:
        return Dist(0, 1, dev)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        # Share the machine's cores among the CPU workers instead of oversubscribing them.
        torch.set_num_threads(max(1, (threads or os.cpu_count() or 1) // world))
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Dist(rank, world, dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX).

    Elsewhere PyTorch emulates bf16 and it is far slower than fp32 (measured on an AVX2-only
    EPYC: a 2048^3 matmul ran at 0.28 GFLOP/s in bf16 against 106 in fp32, and a dream step
    took 390 ms instead of 49). Where /proc/cpuinfo cannot be read, a small timing decides.
    """
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = None
    if flags is not None:
        return any(f in flags for f in _BF16_CPU_FLAGS)
    a = torch.randn(256, 256)

    def seconds(dtype):
        x = a.to(dtype)
        x @ x  # warm-up
        t0 = time.perf_counter()
        x @ x
        return time.perf_counter() - t0

    return seconds(torch.bfloat16) <= 2 * seconds(torch.float32)


def bf16_in_effect(device: torch.device, bf16: bool) -> bool:
    """What `bf16=True` means on `device`: bf16 where the hardware has it, fp32 elsewhere."""
    if not bf16:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_fast_bf16()


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast where the device computes bf16 fast (about 4x faster matmuls on CPUs with
    AVX512-BF16), otherwise a no-op: asking for bf16 never makes a run slower."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16_in_effect(device, bf16) else nullcontext()


def run_end(steps: int, stop_at: int) -> int:
    """The step a run stops at: `--stop-at` if set (and earlier), else `--steps` (the lr schedule's length)."""
    return min(steps, stop_at) if stop_at > 0 else steps


def cosine_lr(step: int, base: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warmup then cosine decay to `floor * base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


class CsvLogger:
    """Appends rows of scalars to a CSV file (resumed runs keep appending)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        self.fields: list[str] | None = None
        self.t0 = time.time()

    def log(self, **row) -> None:
        if not self.enabled:
            return
        row = {"time": round(time.time() - self.t0, 2), **row}
        new = not self.path.exists()
        if self.fields is None:
            self.fields = list(row) if new else next(csv.reader(open(self.path)))
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def split_sources(sources: str, what: str = "--data") -> list[str]:
    """Comma-separated folders (one per frame size: Sora-style size buckets) -> list."""
    paths = [p.strip() for p in sources.split(",") if p.strip()]
    if not paths:
        raise ValueError(f"{what} names no folder")
    return paths


def bucket_probabilities(weights: str, sizes: list[int]) -> np.ndarray:
    """Share of training steps per size bucket: `weights` comma-separated, or by `sizes` if empty."""
    if weights:
        try:
            w = np.array([float(x) for x in weights.split(",")])
        except ValueError:
            w = np.array([])
        if len(w) != len(sizes) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"--bucket-weights {weights!r}: need {len(sizes)} non-negative numbers, one per "
                             "folder (at least one positive)")
    else:
        w = np.array(sizes, float)
    return w / w.sum()


def pick_bucket(seed: int, step: int, p: np.ndarray) -> int:
    """The size bucket of a step. Seeded by the step alone, so every DDP rank runs the same shapes
    and a resumed run draws what an uninterrupted one would."""
    return int(np.random.default_rng([seed, step]).choice(len(p), p=p))


def param_names(model: torch.nn.Module) -> dict[torch.nn.Parameter, str]:
    return {p: n for n, p in model.named_parameters()}


def save_training_state(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                        kind: str, model_config, train_config) -> None:
    """Weights + optimizer moments + step, atomically, as safetensors."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(optimizer_tensors(opt, param_names(model)))
    save_checkpoint(path, tensors, f"{kind}/train", model_config, step=step, train_config=_jsonable(train_config))


def model_weights(state_tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's state dict inside a `save_training_state` file's tensors."""
    return {k[len("model."):]: v for k, v in state_tensors.items() if k.startswith("model.")}


def load_training_state(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, kind: str,
                        same: dict | None = None) -> int:
    """Restore a `save_training_state` file into model and optimizer; returns the step. `same`:
    training settings that should match the saved run's (a warning names those that differ)."""
    tensors, meta = load_checkpoint(path, f"{kind}/train")
    check_same_model_config(path, model, meta)
    saved = meta.get("train_config") or {}
    differ = {k: (saved[k], v) for k, v in (same or {}).items() if k in saved and saved[k] != v}
    if differ:
        print(f"warning: resuming {path} with other settings than it was trained with: {differ} (saved, now)")
    load_state_strict(model, model_weights(tensors), str(path))
    load_optimizer_tensors(opt, param_names(model), tensors)
    return int(meta["step"])


def check_same_model_config(path, model: torch.nn.Module, meta: dict) -> None:
    """A resumed run must build the model it saved: same-shaped weights under another config (say a
    changed `view_rows`) would load cleanly and silently change what the model computes."""
    cfg = getattr(getattr(model, "module", model), "cfg", None)
    if not is_dataclass(cfg) or "config" not in meta:
        return
    saved = config_from_dict(type(cfg), meta["config"], str(path))  # absent fields: their defaults
    differ = config_differences(saved, cfg)
    if differ:
        raise CheckpointError(f"{path}: --resume builds another model than the one saved: {differ} (saved, now); "
                              f"resume with the saved run's flags, or start a new --out with --init {path}")


def check_run_folder(out: str | Path, resume: bool, overwrite: bool, files: tuple[str, ...],
                     what: str = "a training run") -> None:
    """Before a trainer writes `out`: refuse a folder that already holds a run (any of `files`:
    its state, log, outputs) unless `resume` (go on with it) or `overwrite` (start again: its log
    is removed, the rest is replaced as the run writes it), and remove the temporary files that a
    checkpoint write killed mid-way left there (`.<name>.<random>.tmp`). SystemExit for a refusal.
    Call it before any rank writes and before the ranks meet (`setup_distributed`)."""
    from model.checkpoint import clean_temporary_files

    out = Path(out)
    if resume and overwrite:
        raise SystemExit("error: --resume goes on with the run in --out, --overwrite starts it again: give one")
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {out} is a file, not a folder")
    held = [f for f in files if (out / f).exists()]
    if held and not (resume or overwrite):
        raise SystemExit(f"error: {out} already holds {what} ({', '.join(held)}): add --resume to go on with it, "
                         "--overwrite to start again there, or choose another --out")
    for tmp in clean_temporary_files(out):
        print(f"removed {tmp}, a temporary file a killed write left")
    if overwrite and (out / "log.csv").exists() and not _is_ddp_follower():
        (out / "log.csv").unlink()  # a new run's log, not appended to the old one's


def _is_ddp_follower() -> bool:
    return int(os.environ.get("RANK", "0")) != 0


def resume_settings(cfg, ignore: tuple[str, ...] = ()) -> dict:
    """The settings of a training config that a resumed run should share with the saved one (its
    `train_config`), as JSON values: all but how it runs (device, threads, progress, logging,
    --resume, --overwrite, --stop-at) and `ignore`."""
    import json

    how = ("resume", "overwrite", "stop_at", "device", "threads", "progress", "compile", "log_every",
           "ckpt_every", "export_every")
    values = json.loads(json.dumps(_jsonable(cfg)))  # tuples -> lists, as the saved metadata holds them
    return {k: v for k, v in values.items() if k not in how + tuple(ignore)}


def _jsonable(cfg) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


def resume_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, kind: str, resume: bool,
                 announce: bool, same: dict | None = None) -> int:
    """The step to start from: the saved one when `resume` and a state file exists, else 0."""
    if resume and path.exists():
        step = load_training_state(path, model, opt, kind, same if announce else None)
        if announce:
            print(f"resumed from {path} at step {step}")
        return step
    if resume and announce:
        print(f"--resume: no {path} yet, starting fresh")
    return 0


def wrap_for_training(loss_module: torch.nn.Module, d: Dist, compile: bool) -> torch.nn.Module:
    """DDP across ranks (gradients averaged in backward) and optional torch.compile."""
    model = loss_module
    if d.world > 1:
        ids = [d.device.index] if d.device.type == "cuda" else None
        # Some steps leave parameters unused (e.g. caption layers on caption-dropped batches).
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    return torch.compile(model) if compile else model
