"""Re-fit a trained world's reward and termination heads on its frozen DiT, and teach them which
achievement unlocked.

    python scripts/train_heads.py --world runs/world/world --latents data/game_latents \
        --heldout data/game_heldout_latents --out runs/heads/world
    python scripts/train_heads.py --config configs/<world>/heads_4.toml     # a stage of a shipped world

Why: the DiT's joint heads say *that* an achievement unlocked, not *which*. A game that pays +1 only
the first time each achievement is unlocked in an episode makes a dream that cannot tell them apart
pay for every drink of water, and an agent trained in it learns to drink forever. With a logit
per achievement the env can apply the game's own rule (`worldenv/achievements.py`).

The DiT is frozen: it runs once over windows of the latent cache (all windows that end on an
unlock or a death, plus `--windows` random ones) with every frame at the world's rollout noise
level, as rollout reads the heads; the features its heads see on the last frame are kept, and a
new head MLP (3 + K outputs, warm-started from the old one) is fitted on them in seconds. Prints
old vs new heads on the held-out cache, writes `<out>/../heads_eval.json`, and saves the world
with the new heads to `--out` (atomically; the achievement names go into its meta).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.cli import command_line, parse_config
from model.latent_cache import LatentCache, death_frames, unlock_labels
from model.rollout import WorldModel
from model.training import autocast


@dataclass
class TrainHeadsConfig:
    """A heads re-fit; every field is a flag and a key of a `--config` recipe."""

    world: str = ""  # world folder whose heads to re-fit
    latents: str = ""  # latent cache(s) of the world's VAE, comma-separated
    heldout: str = ""  # held-out latent cache for the report (empty: skip)
    out: str = "runs/heads/world"  # world folder to write
    windows: int = 40_000  # random windows besides the event windows
    epochs: int = 30
    lr: float = 1e-3
    pos_weight: float = 1.0  # weight of unlock/death frames in the BCE
    # file to keep the DiT features in, reused by reruns with other fit settings (the features
    # depend only on world, latents, heldout, windows, seed)
    features: str = ""
    # the grid the game's rewards other than unlocks lie on (e.g. health changes of 0.1), for the
    # report's accuracy of that head
    reward_step: float = 0.1
    threads: int = 0
    seed: int = 0
    overwrite: bool = False  # replace a world already in --out (without it, such a folder is refused)


def full_window(cache: LatentCache, window: int) -> np.ndarray:
    """(N,) bool: frame i has `window - 1` frames of its own episode before it."""
    ep_start = np.repeat(cache.episode_starts.numpy(), cache.episode_lengths.numpy())
    return np.arange(len(cache)) - (window - 1) >= ep_start


def window_starts(cache: LatentCache, labels: np.ndarray, deaths: np.ndarray, n_random: int, window: int,
                  rng) -> np.ndarray:
    """Start indices of windows whose last frame is every unlock and every death that has a full
    window before it in its episode, plus `n_random` random windows."""
    events = np.flatnonzero(((labels >= 0) | deaths) & full_window(cache, window)) - (window - 1)
    return np.concatenate([events, cache.sample_windows(rng, n_random, window)])


@torch.no_grad()
def head_features(world: WorldModel, cache: LatentCache, starts: np.ndarray, sigma: float, seed: int,
                  batch: int = 256, progress: bool = True) -> torch.Tensor:
    """(n, d) pooled tokens of each window's last frame, the input of the DiT's heads, with every
    frame noised to `sigma` (the rollout's clean pass)."""
    dit, window = world.dit, world.dit.cfg.window
    prev = cache.actions_into_frames()
    captured: list[torch.Tensor] = []
    hook = dit.heads_mlp.register_forward_hook(lambda m, inp, out: captured.append(inp[0][:, -1].float()))
    gen = torch.Generator().manual_seed(seed)
    try:
        for i in tqdm(range(0, len(starts), batch), desc="features", unit="batch", disable=not progress):
            idx = torch.from_numpy(starts[i : i + batch])[:, None] + torch.arange(window)[None]
            z = cache.latents[idx].float()
            z = (1 - sigma) * z + sigma * torch.randn(z.shape, generator=gen)
            with autocast(torch.device("cpu"), True):
                dit(z, torch.full(z.shape[:2], sigma), prev[idx])
    finally:
        hook.remove()
    return torch.cat(captured)


def reindex(labels: np.ndarray, old: list[str], new: list[str]) -> np.ndarray:
    """Labels indexing `old` names -> indices into `new` (-1 for none, or a name `new` lacks)."""
    table = np.array([new.index(n) if n in new else -1 for n in old] + [-1], np.int64)
    return table[labels]  # label -1 picks the trailing -1


def targets(cache: LatentCache, labels: np.ndarray, deaths: np.ndarray, starts: np.ndarray,
            window: int) -> dict[str, torch.Tensor]:
    last = torch.from_numpy(starts + window - 1)
    reward = cache.rewards[last].float()
    unlock = (reward >= 0.5).float()
    return {"unlock": unlock, "health": reward - unlock, "done": torch.from_numpy(deaths)[last].float(),
            "which": torch.from_numpy(labels)[last]}


def head_loss(out: torch.Tensor, y: dict, pos_weight: float) -> torch.Tensor:
    """The joint training's head loss (model/diffusion.py) plus cross-entropy over which
    achievement, on unlock frames."""
    w_u = 1 + (pos_weight - 1) * y["unlock"]
    w_d = 1 + (pos_weight - 1) * y["done"]
    loss = (F.binary_cross_entropy_with_logits(out[:, 0], y["unlock"], weight=w_u)
            + ((out[:, 1] - y["health"]) ** 2 * 100).mean()
            + F.binary_cross_entropy_with_logits(out[:, 2], y["done"], weight=w_d))
    has = y["which"] >= 0
    if out.shape[1] > 3 and has.any():
        loss = loss + F.cross_entropy(out[has, 3:], y["which"][has])
    return loss


def fit_heads(head: torch.nn.Module, x: torch.Tensor, y: dict, epochs: int, lr: float, pos_weight: float,
              seed: int) -> list[float]:
    """AdamW on minibatches of the cached features; returns the loss per epoch."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), 512):
            j = order[i : i + 512]
            loss = head_loss(head(x[j]), {k: v[j] for k, v in y.items()}, pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(j)
        losses.append(total / len(x))
    return losses


@torch.no_grad()
def head_report(out: torch.Tensor, y: dict, reward_step: float = 0.1) -> dict:
    """Unlock and termination precision/recall at probability 0.5, which-achievement accuracy on
    true unlocks, and the accuracy of the rest of the reward (e.g. health changes) rounded to
    `reward_step`, the grid the game's other rewards lie on."""
    def pr(pred, true):
        tp = (pred & true).sum().item()
        return {"precision": tp / max(pred.sum().item(), 1), "recall": tp / max(true.sum().item(), 1),
                "positives": int(true.sum().item())}

    scale = 1 / reward_step  # 10 for a grid of 0.1, exactly so in float32
    unlock, done = y["unlock"].bool(), y["done"].bool()
    r = {"unlock": pr(out[:, 0] > 0, unlock), "done": pr(out[:, 2] > 0, done),
         "health_acc": ((torch.round(out[:, 1] * scale) / scale - y["health"]).abs()
                        < reward_step / 2).float().mean().item()}
    has = y["which"] >= 0
    if out.shape[1] > 3 and has.any():
        r["which_acc"] = (out[has, 3:].argmax(1) == y["which"][has]).float().mean().item()
    return r


def gather_features(world: WorldModel, latents: str, heldout: str, n_random: int, sigma: float, rng,
                    seed: int) -> dict:
    """Head inputs and targets: training windows of every cache in `latents` (comma-separated) and
    every full window of the `heldout` cache, with one achievement index over all of them."""
    window = world.dit.cfg.window
    loaded = []
    for path in [s for s in latents.split(",") if s]:
        cache = LatentCache.load(path)
        loaded.append((path, cache, *unlock_labels(cache), death_frames(cache)))
    names = sorted(set().union(*(n for *_, n, _ in loaded)))
    xs, ys = [], []
    for path, cache, labels, cache_names, deaths in loaded:
        labels = reindex(labels, cache_names, names)
        starts = window_starts(cache, labels, deaths, n_random, window, rng)
        print(f"{path}: {len(cache)} frames, {int((labels >= 0).sum())} unlocks, "
              f"{int(deaths.sum())} deaths, {len(starts)} windows")
        xs.append(head_features(world, cache, starts, sigma, seed))
        ys.append(targets(cache, labels, deaths, starts, window))
    out = {"x": torch.cat(xs), "y": {k: torch.cat([d[k] for d in ys]) for k in ys[0]}, "names": names}
    if heldout:
        cache = LatentCache.load(heldout)
        labels, held_names = unlock_labels(cache)
        labels = reindex(labels, held_names, names)
        starts = np.flatnonzero(full_window(cache, window)) - (window - 1)  # every frame with a full window
        out["hx"] = head_features(world, cache, starts, sigma, seed + 1)
        out["hy"] = targets(cache, labels, death_frames(cache), starts, window)
    return out


FEATURES_KIND = "HeadFeatures"


def save_features(path: str | Path, feats: dict) -> None:
    """The DiT features and targets of `gather_features` (and their "key") as a safetensors file:
    tensors `x`, `y.<target>` (and `hx`, `hy.<target>`), the key and names in its metadata."""
    tensors = {}
    for name in ("x", "hx"):
        if name in feats:
            tensors[name] = feats[name]
    for name in ("y", "hy"):
        tensors.update({f"{name}.{k}": v for k, v in feats.get(name, {}).items()})
    save_checkpoint(path, tensors, FEATURES_KIND, key=feats["key"], names=feats["names"])


def load_features(path: str | Path) -> dict:
    """`save_features`' dict back, or {} where there is no file or one of another format (an
    earlier version's pickle: its features are computed again and the file replaced)."""
    if not Path(path).exists():
        return {}
    try:
        tensors, meta = load_checkpoint(path, FEATURES_KIND)
    except CheckpointError as e:
        print(f"note: {path} is not a features file this version reads ({e}); computing the features again")
        return {}
    feats = {"key": meta.get("key"), "names": meta.get("names") or []}
    for name, t in tensors.items():
        head, _, target = name.partition(".")
        if target:
            feats.setdefault(head, {})[target] = t
        else:
            feats[name] = t
    return feats


def check_out(cfg: TrainHeadsConfig) -> None:
    """Refuse an --out that holds a world (its files would be replaced) unless --overwrite."""
    out = Path(cfg.out)
    held = sorted(f.name for f in out.glob("*.safetensors")) if out.is_dir() else []
    if held and not cfg.overwrite:
        raise SystemExit(f"error: {out} already holds a world ({', '.join(held)}): add --overwrite to replace it, "
                         "or choose another --out")


def fit(cfg: TrainHeadsConfig) -> dict:
    """Re-fit the heads of `cfg.world` and save the world with them to `cfg.out`; returns the report."""
    check_out(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    world = WorldModel.load(cfg.world)
    sigma = world.rollout_defaults["context_sigma"]
    rng = np.random.default_rng(cfg.seed)

    key = {k: getattr(cfg, k) for k in ("world", "latents", "heldout", "windows", "seed")}
    dit_file = (Path(cfg.world) / "dit.safetensors").stat()
    key["dit_file"] = [dit_file.st_size, dit_file.st_mtime_ns]  # a retrained world is not reused
    feats = load_features(cfg.features) if cfg.features else {}
    if feats.get("key") == json.loads(json.dumps(key)):
        print(f"features from {cfg.features}")
    else:
        feats = {"key": key, **gather_features(world, cfg.latents, cfg.heldout, cfg.windows, sigma, rng, cfg.seed)}
        if cfg.features:
            save_features(cfg.features, feats)
    x, y, names = feats["x"], feats["y"], feats["names"]

    old_head = world.dit.heads_mlp
    dit_cfg = replace(world.dit.cfg, achievements=len(names))
    dit = type(world.dit)(dit_cfg)
    state = {k: v for k, v in world.dit.state_dict().items() if not k.startswith("heads_mlp.3.")}
    dit.load_state_dict(state, strict=False)
    with torch.no_grad():  # warm start: the old three outputs (unlock, health, termination)
        dit.heads_mlp[3].weight[:3] = old_head[3].weight[:3]
        dit.heads_mlp[3].bias[:3] = old_head[3].bias[:3]
    head = dit.heads_mlp.float().train()
    losses = fit_heads(head, x, y, cfg.epochs, cfg.lr, cfg.pos_weight, cfg.seed)
    head.eval()
    print(f"head loss {losses[0]:.4f} -> {losses[-1]:.4f} over {cfg.epochs} epochs on {len(x)} windows")

    report = {"achievements": names, "train_windows": len(x), "loss": losses, "args": asdict(cfg)}
    if "hx" in feats:
        hx, hy = feats["hx"], feats["hy"]
        with torch.no_grad():
            report["heldout_old"] = head_report(old_head(hx), hy, cfg.reward_step)
            report["heldout_new"] = head_report(head(hx), hy, cfg.reward_step)
        print(f"held-out ({len(hx)} frames)   unlock P / R       done P / R       health acc  which acc")
        for k in ("old", "new"):
            r = report[f"heldout_{k}"]
            print(f"  {k} heads   {r['unlock']['precision']:.3f} / {r['unlock']['recall']:.3f}"
                  f"    {r['done']['precision']:.3f} / {r['done']['recall']:.3f}"
                  f"      {r['health_acc']:.3f}      {r.get('which_acc', float('nan')):.3f}")
    world.dit = dit.eval()
    out = world.save_replacing(cfg.out, achievements=names)
    (out.parent / "heads_eval.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out} (heads with {len(names)} achievements) and {out.parent / 'heads_eval.json'}")
    return report


def parse_args(argv=None) -> TrainHeadsConfig:
    cfg = parse_config(__doc__, TrainHeadsConfig, argv)
    for name in ("world", "latents"):
        if not getattr(cfg, name):
            raise SystemExit(f"error: give --{name} (or a --config recipe that sets it)")
    if cfg.reward_step <= 0:
        raise SystemExit(f"error: --reward-step must be > 0, got {cfg.reward_step}")
    return cfg


@command_line
def main(argv=None) -> None:
    """`soraworld-train-heads` / `scripts/train_heads.py`."""
    fit(parse_args(argv))
