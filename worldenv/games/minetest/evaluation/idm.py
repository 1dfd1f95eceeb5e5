"""Action control as MineWorld measures it: a small inverse-dynamics model (IDM) reads the action
from a frame pair (t, t+1); its accuracy on dreamed pairs, made with the recorded actions, next to
its accuracy on the real pairs of the same steps says how well the dream follows the controls.

Heads (classes): `yaw` left / none / right and `pitch` up / none / down (the camera's 11 mu-law
bins coarsened to their sign: three classes), `forward_back` none / forward / back, `jump` and
`attack` off / on. Trained on real pairs of a training recordings folder; saved as a checkpoint
(kind "MinetestIDM") with the frame size it reads.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.vpt import CAMERA_CENTER_BIN, N_BUTTONS
from worldenv.games.minetest.evaluation.data import BUTTON, Recordings

IDM_KIND = "MinetestIDM"
HEADS = {"yaw": ("left", "none", "right"), "pitch": ("up", "none", "down"),
         "forward_back": ("none", "forward", "back"), "jump": ("off", "on"), "attack": ("off", "on")}


def idm_labels(actions: np.ndarray) -> dict[str, np.ndarray]:
    """The heads' classes of MultiDiscrete actions (n, 25)."""
    a = np.asarray(actions)

    def sign3(b):  # bin below the centre -> 0 (left/up), centre -> 1, above -> 2 (right/down)
        return np.sign(b - CAMERA_CENTER_BIN).astype(np.int64) + 1

    fwd, back = a[:, BUTTON["forward"]] > 0, a[:, BUTTON["back"]] > 0
    return {"yaw": sign3(a[:, N_BUTTONS + 1]), "pitch": sign3(a[:, N_BUTTONS]),
            "forward_back": np.where(fwd & ~back, 1, np.where(back & ~fwd, 2, 0)),
            "jump": (a[:, BUTTON["jump"]] > 0).astype(np.int64), "attack": (a[:, BUTTON["attack"]] > 0).astype(np.int64)}


class InverseDynamics(nn.Module):
    """Three strided convolutions (with group norm) over (frame t, frame t+1, their difference), pooled to a 3x4 grid,
    one hidden layer, and a linear head per action part."""

    def __init__(self, size: tuple[int, int], width: int = 32):
        super().__init__()
        self.size, self.width = (int(size[0]), int(size[1])), int(width)
        w = self.width
        self.body = nn.Sequential(
            nn.Conv2d(9, w, 4, 2, 1), nn.GroupNorm(8, w), nn.GELU(),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.GroupNorm(8, 2 * w), nn.GELU(),
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1), nn.GroupNorm(8, 2 * w), nn.GELU(),
            nn.AdaptiveAvgPool2d((3, 4)), nn.Flatten(),
            nn.Linear(2 * w * 12, 4 * w), nn.GELU())
        self.heads = nn.ModuleDict({name: nn.Linear(4 * w, len(c)) for name, c in HEADS.items()})

    def forward(self, f0: torch.Tensor, f1: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head for uint8 frame pairs (b, H, W, 3)."""
        a = f0.permute(0, 3, 1, 2).float() / 127.5 - 1
        b = f1.permute(0, 3, 1, 2).float() / 127.5 - 1
        z = self.body(torch.cat([a, b, 4 * (b - a)], 1))
        return {name: head(z) for name, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, f0: np.ndarray, f1: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
        self.eval()
        out = {name: [] for name in HEADS}
        for i in range(0, len(f0), batch):
            logits = self(torch.as_tensor(f0[i : i + batch]), torch.as_tensor(f1[i : i + batch]))
            for name, v in logits.items():
                out[name].append(v.argmax(1).numpy())
        return {name: np.concatenate(v) if v else np.zeros(0, np.int64) for name, v in out.items()}


def save_idm(path: str | Path, idm: InverseDynamics, **meta) -> None:
    save_checkpoint(path, idm.state_dict(), IDM_KIND, config={"size": list(idm.size), "width": idm.width},
                    heads={k: list(v) for k, v in HEADS.items()}, **meta)


def load_idm(path: str | Path, size: tuple[int, int] | None = None) -> tuple[InverseDynamics, dict]:
    """An IDM saved by `save_idm`; a CheckpointError when it reads another frame size than `size`."""
    tensors, meta = load_checkpoint(path, IDM_KIND)
    cfg = meta["config"]
    if size is not None and tuple(cfg["size"]) != tuple(size):
        raise CheckpointError(f"{path}: this IDM reads {cfg['size'][0]}x{cfg['size'][1]} frames, the world dreams "
                              f"{size[0]}x{size[1]}: train one at the world's size (--idm-data, --idm-steps)")
    idm = InverseDynamics(tuple(cfg["size"]), cfg["width"])
    idm.load_state_dict(tensors)
    return idm.eval(), meta


def real_pairs(rec: Recordings, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W, 3), actions (T, 25), starts) of a folder's episodes, up to `max_frames` frames:
    `starts` indexes the frames t whose t+1 is in the same episode (the pairs)."""
    frames, actions, starts, n = [], [], [], 0
    for info in rec.episodes:
        if n >= max_frames:
            break
        f, a = rec.load(info, first=min(rec.length(info), max_frames - n))
        if len(f) < 2:
            continue
        frames.append(f)
        actions.append(a)
        starts.append(n + np.arange(len(f) - 1))
        n += len(f)
    if not frames:
        raise ValueError(f"{rec.folder}: no episode with two frames to train the IDM on")
    return np.concatenate(frames), np.concatenate(actions), np.concatenate(starts)


def train_idm(folder: str | Path, size: tuple[int, int], steps: int, seed: int = 0, max_frames: int = 50_000,
              batch: int = 64, lr: float = 1e-3, width: int = 32, log_every: int = 0) -> tuple[InverseDynamics, dict]:
    """An IDM trained `steps` steps on the real frame pairs of `folder` (read at `size` = (W, H))."""
    rec = Recordings(folder, size)
    frames, actions, starts = real_pairs(rec, max_frames)
    labels = idm_labels(actions)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    idm = InverseDynamics(size, width)
    opt = torch.optim.AdamW(idm.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss()
    t0, idm_loss = time.time(), float("nan")
    idm.train()
    for step in range(steps):
        t = starts[rng.integers(0, len(starts), batch)]
        logits = idm(torch.as_tensor(frames[t]), torch.as_tensor(frames[t + 1]))
        loss = sum(loss_fn(logits[name], torch.as_tensor(labels[name][t])) for name in HEADS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        idm_loss = float(loss.detach())
        if log_every and (step + 1) % log_every == 0:
            print(f"idm step {step + 1}/{steps}: loss {idm_loss:.3f} ({time.time() - t0:.0f} s)", flush=True)
    idm.eval()
    return idm, {"trained_on": str(folder), "steps": int(steps), "pairs": int(len(starts)), "final_loss": idm_loss,
                 "seconds": round(time.time() - t0, 1)}


def accuracy(idm: InverseDynamics, f0: np.ndarray, f1: np.ndarray, actions: np.ndarray) -> dict:
    """Per head: the IDM's accuracy on the pairs (f0, f1) made by `actions`, and the majority class's share
    (what always guessing the commonest class scores)."""
    pred, labels = idm.predict(f0, f1), idm_labels(actions)
    out = {}
    for name, classes in HEADS.items():
        y = labels[name]
        counts = np.bincount(y, minlength=len(classes))
        out[name] = {"accuracy": float((pred[name] == y).mean()) if len(y) else None,
                     "majority_share": float(counts.max() / max(len(y), 1)),
                     "class_counts": {c: int(n) for c, n in zip(classes, counts, strict=True)}}
    return out


def action_control(idm: InverseDynamics, clips, acts, dream, k: int, horizon: int, heldout=None) -> dict:
    """The IDM on the teacher-forced windows' first `horizon` steps: real pairs (frame k-1+j, k+j)
    and dreamed pairs (dream frame j-1, or the last real frame for j = 0, and dream frame j), made by
    the same recorded actions acts[:, k-1+j]; plus, with `heldout` = (frames, actions, starts), every
    real held-out pair."""
    horizon = min(horizon, dream.shape[1])
    a = acts[:, k - 1 : k - 1 + horizon].reshape(-1, acts.shape[-1])
    real0 = clips[:, k - 1 : k - 1 + horizon].reshape(-1, *clips.shape[2:])
    real1 = clips[:, k : k + horizon].reshape(-1, *clips.shape[2:])
    prev = np.concatenate([clips[:, k - 1 : k], dream[:, : horizon - 1]], 1).reshape(-1, *clips.shape[2:])
    dreamed = dream[:, :horizon].reshape(-1, *clips.shape[2:])
    real, dreamt = accuracy(idm, real0, real1, a), accuracy(idm, prev, dreamed, a)
    out = {"pairs": int(len(a)), "horizon": int(horizon), "real": real, "dream": dreamt,
           "dream_over_real": {name: (dreamt[name]["accuracy"] / real[name]["accuracy"]
                                      if real[name]["accuracy"] else None) for name in HEADS}}
    if heldout is not None:
        frames, actions, starts = heldout
        out["real_heldout_all"] = accuracy(idm, frames[starts], frames[starts + 1], actions[starts])
        out["real_heldout_all_pairs"] = int(len(starts))
    return out
