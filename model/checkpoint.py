"""Checkpoints as safetensors: tensors + JSON metadata, written atomically, validated on load.

No pickle anywhere: a checkpoint is a safetensors file whose metadata carries the format
version, the model kind and its config (JSON). Loading checks all three and reports a
mismatch in words ("this is a VideoVAE checkpoint with latent_channels=8, expected 16").
Training state (optimizer moments, step, RNG-free counters) is stored the same way, so a
resumed run never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, of a future version, or of another model/config."""


def umask_mode() -> int:
    """The mode a plain `open()` gives a new file under this process's umask (0o644 under 022).
    `tempfile.mkstemp` creates files 0600; outputs written through a temporary file get this mode
    instead, so every output of a run has the same mode."""
    try:  # Linux >= 4.7 shows it without changing it (os.umask's read-by-setting races with threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def temporary_file(path: Path) -> str:
    """A new temporary file beside `path` (`.<name>.<random>.tmp`), with the umask's mode: write it,
    then `os.replace` it onto `path`. `clean_temporary_files` removes those a killed writer left."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, umask_mode())
    finally:
        os.close(fd)
    return tmp


def clean_temporary_files(folder: str | Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """Remove the temporary files (`temporary_file`) that writes killed mid-way left in `folder`:
    of the files `names` where given, else of any file. Returns those removed. Call it where no
    other process writes the folder (a run's start)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.glob(".*.tmp"):
        if not tmp.is_file():
            continue
        if names is not None and not any(tmp.name.startswith(f".{n}.") for n in names):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def check_finite(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """CheckpointError naming the file and the first tensor that holds NaN or infinity: bytes
    overwritten inside a file (4 KiB of 0xFF turn a thousand weights into NaN) still parse, and a
    model with NaN weights would load and dream garbage."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{path}: tensor {name!r} holds {bad} of {t.numel()} values that are NaN or "
                                  "infinite: the file is corrupt (overwritten bytes?); restore it from a copy")


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], kind: str, config: Any = None,
                    **meta: Any) -> None:
    """Atomically write `tensors` with metadata {version, kind, config, **meta} to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format_version": str(CHECKPOINT_VERSION), "kind": kind}
    if config is not None:
        metadata["config"] = json.dumps(asdict(config) if hasattr(config, "__dataclass_fields__") else config)
    metadata.update({k: json.dumps(v) for k, v in meta.items()})
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    tmp = temporary_file(path)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, umask_mode())  # safetensors writes its files 0600 whatever the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint of `kind`; returns (tensors, metadata with 'config' and extras decoded)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({e})") from None
    version = int(raw.get("format_version", "0"))
    if version == 0:
        raise CheckpointError(f"{path}: not a SoraWorld checkpoint (no format_version in its metadata)")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this code supports "
            f"({CHECKPOINT_VERSION}); update soraworld"
        )
    if raw.get("kind") != kind:
        raise CheckpointError(f"{path}: this is a {raw.get('kind')!r} checkpoint, expected {kind!r}")
    meta: dict[str, Any] = {}
    for k, v in raw.items():
        if k in ("format_version", "kind"):
            continue
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            raise CheckpointError(f"{path}: metadata field {k!r} is not valid JSON") from None
    check_finite(path, tensors)
    return tensors, meta


def config_from_dict(cls, data: dict, source: str = "checkpoint"):
    """Build a config dataclass from a dict, rejecting unknown fields by name.

    A field the code no longer has is listed in the class's `REMOVED_FIELDS`, {name: (neutral value,
    what it did)}: checkpoints written before its removal store it, and load while it holds the
    neutral value (the feature was off); any other value is refused with the feature's name.
    """
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: config must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    for name, (neutral, feature) in getattr(cls, "REMOVED_FIELDS", {}).items():
        if name not in data:
            continue
        value = data.pop(name)
        if _normalised(value) != _normalised(neutral):
            raise CheckpointError(
                f"{source}: {cls.__name__}.{name} = {value!r} uses {feature}, which was removed; "
                f"only {neutral!r} (off) loads. Use an earlier SoraWorld version (git history) for this checkpoint")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(f"{source}: unknown {cls.__name__} fields {unknown}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


def _normalised(value):
    """JSON lists and tuples compare alike."""
    return tuple(_normalised(v) for v in value) if isinstance(value, (list, tuple)) else value


def config_differences(first, second) -> dict:
    """{field: (first's value, second's value)} for the fields where two configs of one dataclass differ."""
    a, b = asdict(first), asdict(second)
    return {k: (v, b[k]) for k, v in a.items() if b[k] != v}


def load_state_strict(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, reporting missing/unexpected keys and shape mismatches by name."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = [f"{k}: {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{source}: weights do not fit this model config; missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shape mismatches {wrong[:5]}"
        )
    module.load_state_dict(tensors)


def optimizer_tensors(opt: torch.optim.Optimizer, names: dict[torch.nn.Parameter, str]) -> dict[str, torch.Tensor]:
    """Flatten an Adam-style optimizer's per-parameter state into named tensors."""
    out = {}
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                out[f"optim.{names[p]}.{key}"] = t
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, names: dict[torch.nn.Parameter, str],
                           tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of `optimizer_tensors`."""
    for group in opt.param_groups:
        for p in group["params"]:
            prefix = f"optim.{names[p]}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if state:
                opt.state[p] = {k: v.to(p.device) if v.ndim else v.clone() for k, v in state.items()}
