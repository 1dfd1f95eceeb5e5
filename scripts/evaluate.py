"""Evaluate a world model on held-out recordings (metrics as defined in shared/DESIGN.md).

    python scripts/evaluate.py --model worldenv/worlds/crafter72 --data data/crafter72_heldout --out runs/eval

- Teacher-forced fidelity at horizons 1, 8, 32, 128: start from real frames, feed the real
  actions, generate without seeing real frames again; compare frame k with the real frame k
  (PSNR, tile accuracy, inventory accuracy), next to the same for the baseline that repeats the
  last real frame; tile accuracy also split by the real frame's light (day / Crafter's grainy night);
  and each tile class's share of the views, game against dream.
- Reward prediction: precision/recall of the unlock head on real frames (teacher forcing).
- Action controllability: from real states, each of the 4 moves whose target tile is walkable is
  dreamed for one step; an inverse-dynamics check recovers the move from the tile shift. Moves
  into a tile the player cannot enter (the game only turns the player) should leave the view
  still: `blocked_still` is the share that do.
- Fresh strips: a step into a walkable tile brings a strip of view the last frame never showed,
  which the dream must draw. From real states, the real move is dreamed for one step and the
  share of each tile class in that strip is compared with the game's (a world that draws too
  few trees there runs out of them over a long dream; README, Results, stop 27).
- Stability: a closed-loop rollout with random actions (10,000 steps by default); tile-class
  validity and mean frame change every 1000 steps.
All dreams (fidelity, controllability, fresh strips, stability) run under the game's clock where
`--keep-daylight` (the default on Crafter worlds, as SoraWorld-v0 dreams); the fidelity also under
the rest of the game's rules with `--keep-inventory` / `--keep-terrain`.
Prints a table, writes `<out>/eval.json`, a filmstrip PNG (real row vs dream row) and an mp4
with real and dream side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from view_novelty import prompts_places  # noqa: E402

from model.data import actions_into_frames, episode_arrays  # noqa: E402
from model.latents import uncovered_cells  # noqa: E402
from model.metrics import psnr  # noqa: E402
from model.recordings import draw_windows, list_episodes, recorded_view  # noqa: E402
from model.rollout import DreamRollout, WorldModel  # noqa: E402
from worldenv.dream_env import dream_overlay, inventory_ledger_for, keeps_daylight  # noqa: E402
from worldenv.games.crafter.env import PLAYER_MOVES  # noqa: E402
from worldenv.games.crafter.parse import CLASS_NAMES, CrafterFrameParser  # noqa: E402

WALKABLE = (2, 4, 5)  # grass, path, sand: tiles the player can step onto


class Starts(NamedTuple):
    """Held-out windows to dream from (`load_starts`)."""

    frames: np.ndarray  # (n, k + horizon, H, W, 3) uint8
    actions: np.ndarray  # (n, k + horizon, A): the action into each frame
    asleep: np.ndarray  # (n,) bool: the player sleeps at the last context frame (the game ignores moves)
    prompts: list | None  # with history: per window (frames (m + k, H, W, 3), actions (m + k, A)); else None


def load_starts(data: str, k: int, horizon: int, n: int, seed: int, per_episode: int = 1,
                history: int = 0) -> Starts:
    """The windows of k + horizon frames `draw_windows` draws from the episodes of `data`, `per_episode`
    from each episode drawn: (frames, actions into each frame) of each, and whether the
    player sleeps at each window's last context frame (k - 1; jsonl `sleeping`, False where not
    recorded). With `history` > 0 also each window's prompt: up to `history` real frames before it
    and its k context frames, with the actions into them (m = min(history, first frame))."""
    clips, acts, asleep, prompts = [], [], [], []
    ep = name = None
    for info, s in draw_windows(data, k + horizon, n, seed, per_episode):
        if name != info.name:
            ep, name = episode_arrays(data, info), info.name
            into = actions_into_frames(ep.actions)
        clips.append(ep.frames[s : s + k + horizon])
        acts.append(into[s : s + k + horizon])
        asleep.append(ep.sleeping[s + k - 1])
        if history > 0:
            prompts.append((ep.frames[max(0, s - history) : s + k], into[max(0, s - history) : s + k]))
    return Starts(np.stack(clips), np.stack(acts), np.array(asleep, bool), prompts if history > 0 else None)


def class_shares(real: np.ndarray, dream: np.ndarray) -> dict:
    """Each tile class's share of the tiles in `real` and in `dream` (any shapes of class ids), for
    the classes either holds: {name: {"real": share, "dream": share}}."""
    rc = np.bincount(real.ravel(), minlength=len(CLASS_NAMES)) / max(1, real.size)
    dc = np.bincount(dream.ravel(), minlength=len(CLASS_NAMES)) / max(1, dream.size)
    return {CLASS_NAMES[c]: {"real": float(rc[c]), "dream": float(dc[c])} for c in np.flatnonzero((rc > 0) | (dc > 0))}


def start_dreams(world: WorldModel, clips, acts, k: int, steps: int, seed: int, roll_kw: dict | None = None,
                 keep_daylight: bool | None = False, keep_inventory: bool = False, keep_terrain: bool = False,
                 prompts=None) -> DreamRollout:
    """Dreams (one per clip) started from the clips' first k frames and actions, under the rules
    they are scored with: the ledger (`InventoryLedger`, which runs the clock too) with
    `keep_inventory` or `keep_terrain`, else the game's clock where `keep_daylight`. Dream i's rule
    draws are seeded `seed + i`. `prompts` (one (frames, actions) per clip, of any length) give the
    rules longer prompts than the DiT's k frames."""
    b = len(clips)
    ledger = (inventory_ledger_for(world, b, True, keep_terrain, keep_daylight=keep_daylight)
              if keep_inventory or keep_terrain else None)
    overlay = dream_overlay(world, b, ledger, keep_daylight)
    roll = DreamRollout(world, batch=b, steps=steps, seed=seed, overlay=overlay, **(roll_kw or {}))
    roll.reset(clips[:, :k], acts[:, :k])
    if overlay is not None and prompts is None:
        overlay.reset(range(b), clips[:, :k], acts[:, :k], [seed + i for i in range(b)])
    elif overlay is not None:  # prompts differ in length: one dream at a time
        for i, (frames, actions) in enumerate(tqdm(prompts, desc="prompts", unit="prompt", leave=False)):
            overlay.reset([i], frames[None], actions[None], [seed + i])
    return roll


def teacher_forced(world: WorldModel, parser, clips, acts, k: int, horizons, steps: int, seed: int,
                   roll_kw: dict | None = None, keep_inventory: bool = False, keep_daylight: bool | None = False,
                   keep_terrain: bool = False, prompts: list | None = None, places: dict | None = None):
    """Generate `max(horizons)` frames from each clip's first k real frames with the real actions;
    with `keep_inventory`, the items by the game's rules as SoraWorld-v0 keeps them (`InventoryLedger`);
    with `keep_daylight`, the day and night by the game's clock (`CrafterClock`); with `keep_terrain`
    (and keep_inventory) also the terrain by the rules and the memory of the world seen, as
    SoraWorld-v0 keeps them (`TerrainKeeper`, `WorldMemory`). `prompts` (one (frames, actions) per
    clip, `load_starts(history=)`) are longer prompt videos ending with the clip's context: the DiT
    is given their last k frames as always, the game's rules (the memory of the world seen, the
    clock) all of them. `places` ({horizon: (seen, ...)}, view_novelty.py's `prompts_places`) split
    each horizon's tile accuracy by whether the prompt showed the place."""
    roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, keep_daylight, keep_inventory, keep_terrain,
                        prompts)
    H = max(horizons)
    dream = []
    for t in range(H):
        dream.append(roll.step(acts[:, k + t]).frames)
    dream = np.stack(dream, 1)  # (b, H, h, w, 3)
    def metrics(real, pr, pf, fake):
        return {"psnr_db": float(psnr(real, fake).mean()), "tile_accuracy": float((pr.tiles == pf.tiles).mean()),
                "inventory_accuracy": float((pr.inventory == pf.inventory).mean())}

    out = {}
    last = clips[:, k - 1]  # what the repeat-last baseline shows at every horizon
    pl = parser.parse(last)
    for h in horizons:
        real, fake = clips[:, k + h - 1], dream[:, h - 1]
        pr, pf = parser.parse(real), parser.parse(fake)
        # baseline: a "world model" that repeats the last real frame; a model must beat it
        out[str(h)] = {**metrics(real, pr, pf, fake), "repeat_last": metrics(real, pr, pl, last)}
        hit, hit_last = pr.tiles == pf.tiles, pr.tiles == pl.tiles
        def split(groups, hit=hit, hit_last=hit_last):  # tile accuracy of both on each group of frames
            return {kind: {"frames": int(rows.sum()), "model": float(hit[rows].mean()),
                           "repeat_last": float(hit_last[rows].mean())}
                    for kind, rows in groups if rows.any()}

        # what the views hold, game against dream: a dream can score well on tiles by drawing the
        # common class (grass) where it is unsure, and drift into a grassland the game does not show
        out[str(h)]["view_class_share"] = class_shares(pr.tiles, pf.tiles)
        # split by the light of the real frame: Crafter's night (daylight < 0.5) has per-frame grain
        night = pr.daylight < 0.5
        out[str(h)]["tile_accuracy_by_light"] = split((("day", ~night), ("night", night)))
        seen = None if places is None else places[h][0]
        if seen is not None and seen.shape == hit.shape:  # places the prompt showed, which a dream can keep
            out[str(h)]["tile_accuracy_by_place"] = {
                kind: {"share": float(m.mean()), "model": float(hit[m].mean()) if m.any() else None,
                       "repeat_last": float(hit_last[m].mean()) if m.any() else None}
                for kind, m in (("seen", seen), ("unseen", ~seen))}
        if h == 1:  # split by the action into the frame: a move shifts the view, the other
            # actions mostly keep it, where a model should lose little more than repeat_last does
            move = np.isin(acts[:, k, 0], list(PLAYER_MOVES))
            out["1"]["tile_accuracy_after"] = split((("move", move), ("other", ~move)))
            out["1"]["tile_accuracy_after_by_light"] = split(
                ((f"{a}, {b}", ra & rb) for a, ra in (("move", move), ("other", ~move))
                 for b, rb in (("day", ~night), ("night", night))))
    return out, dream


def reward_precision_recall(world: WorldModel, data: str, k: int, max_frames: int, seed: int,
                            roll_kw: dict | None = None) -> dict:
    """Unlock-head precision/recall on real frames of whole episodes (teacher forcing)."""
    tp = fp = fn = 0
    done_tp = done_fp = done_fn = 0
    frames_seen = named = named_right = 0
    names = world.achievements
    for info in list_episodes(data):
        ep = episode_arrays(data, info)
        if len(ep.frames) <= k:
            continue
        roll = DreamRollout(world, batch=1, seed=seed, **(roll_kw or {}))
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


def view_shift(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """The player move (dx, dy) that best explains the change of local-view tiles (7, 9)."""
    best, best_score = (0, 0), -1.0
    rows, cols = before.shape
    for dx, dy in [(0, 0), *PLAYER_MOVES.values()]:
        # the view moves with the player: after[r, c] == before[r + dy, c + dx]
        r0, r1 = max(0, -dy), rows - max(0, dy)
        c0, c1 = max(0, -dx), cols - max(0, dx)
        a = after[r0:r1, c0:c1]
        b = before[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
        keep = np.ones_like(a, bool)
        keep[rows // 2 - r0, cols // 2 - c0] = False  # the player's own tile
        score = float((a == b)[keep].mean())
        if score > best_score + 1e-9:
            best, best_score = (dx, dy), score
    return best


def move_visible(tiles: np.ndarray, dx: int, dy: int) -> bool:
    """Whether a step (dx, dy) would change the local-view tiles (rows, cols) at all where both views
    overlap: in a uniform field (all grass) a step and standing still look alike, and `view_shift`
    cannot tell which the dream did. The player's tile, before and after, is left out."""
    rows, cols = tiles.shape
    r0, r1 = max(0, -dy), rows - max(0, dy)
    c0, c1 = max(0, -dx), cols - max(0, dx)
    moved, still = tiles[r0 + dy : r1 + dy, c0 + dx : c1 + dx], tiles[r0:r1, c0:c1]
    keep = np.ones(moved.shape, bool)
    for r, c in ((rows // 2, cols // 2), (rows // 2 - dy, cols // 2 - dx)):
        if r0 <= r < r1 and c0 <= c < c1:
            keep[r - r0, c - c0] = False
    return bool((moved != still)[keep].any())


def fresh_strips(world: WorldModel, parser, clips, acts, k: int, steps: int, seed: int,
                 roll_kw: dict | None = None, keep_daylight: bool | None = False) -> dict:
    """Tile classes of the strip a move brings into view, game against dream (see module docstring):
    from each clip's k real frames, its real next action is dreamed for one step; clips whose action
    is a move the game carried out (the real view shifted that way) count. Per class: its share of
    the strip's tiles in the real frames and in the dreamed ones."""
    b = len(clips)
    roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, keep_daylight)
    dream = parser.parse(roll.step(acts[:, k]).frames).tiles
    before, real = parser.parse(clips[:, k - 1]).tiles, parser.parse(clips[:, k]).tiles
    rows, cols = real.shape[1:]
    real_cells, dream_cells = [], []
    for i in range(b):
        move = PLAYER_MOVES.get(int(acts[i, k, 0]))
        if move is None or view_shift(before[i], real[i]) != move:
            continue
        # the view's content shifts against the step: the edge the player walks toward is new
        cells = uncovered_cells(rows, cols, -move[0], -move[1]).numpy()
        real_cells.append(real[i][cells])
        dream_cells.append(dream[i][cells])
    if not real_cells:
        return {"moves": 0, "tiles": 0, "share": {}}
    r, d = np.concatenate(real_cells), np.concatenate(dream_cells)
    return {"moves": len(real_cells), "tiles": int(len(r)), "tile_accuracy": float((r == d).mean()),
            "share": class_shares(r, d)}


@torch.no_grad()
def context_use(world: WorldModel, clips, acts, k: int, seed: int, sigma: float = 1.0) -> dict:
    """How well the DiT draws the next frame from its context: from each clip's k real frames and
    the next frame at noise `sigma` (1 = pure noise, where sampling starts), its one-step estimate
    of the clean next latent, z - sigma * v. Mean squared error against the real next latent, and
    the same for repeating the last latent (a model that uses its context must beat it), split
    into moves (actions 1-4) and the rest."""
    b = len(clips)
    z = world.vae.encode_images(torch.as_tensor(clips[:, : k + 1]).flatten(0, 1)).unflatten(0, (b, k + 1)).float()
    noise = torch.randn(z[:, -1].shape, generator=torch.Generator().manual_seed(seed))
    zt = z.clone()
    zt[:, -1] = (1 - sigma) * z[:, -1] + sigma * noise
    s = torch.zeros(b, k + 1)
    s[:, -1] = sigma
    v, _ = world.dit(zt, s, torch.as_tensor(acts[:, : k + 1]))
    est = zt[:, -1] - sigma * v[:, -1].float()
    err = ((est - z[:, -1]) ** 2).mean((1, 2, 3)).numpy()
    repeat = ((z[:, -2] - z[:, -1]) ** 2).mean((1, 2, 3)).numpy()
    move = np.isin(np.asarray(acts)[:, k, 0], list(PLAYER_MOVES))
    def split(x):
        return {"all": float(x.mean()), "moves": float(x[move].mean()) if move.any() else None,
                "other": float(x[~move].mean()) if (~move).any() else None}
    return {"sigma": sigma, "windows": b, "model_mse": split(err), "repeat_last_mse": split(repeat)}


def controllability(world: WorldModel, parser, clips, acts, k: int, steps: int, seed: int,
                    roll_kw: dict | None = None, asleep: np.ndarray | None = None,
                    keep_daylight: bool | None = False, keep_inventory: bool = False,
                    keep_terrain: bool = False) -> dict:
    """Share of dreamed moves whose direction the inverse-dynamics check recovers, over the moves
    the game would allow; and the share of the moves it would refuse (the target tile cannot be
    entered, or the player sleeps at the start: `asleep` (b,) bool) where the dream kept the view still.
    Moves in a field where a step looks like standing still (`move_visible`) are left out of both and
    counted as `ambiguous`. The dreams run under the fidelity's rules (`keep_daylight`, and the
    ledger with `keep_inventory` / `keep_terrain`); the clock alone keeps no sleep, so the refused
    moves are also split by cause (`blocked_by_cause`: terrain, asleep)."""
    b = len(clips)
    start_tiles = parser.parse(clips[:, k - 1]).tiles
    rows, cols = start_tiles.shape[1:]
    correct = total = 0
    per_action = {}
    # how the misses fail: the view did not move at all, or moved the wrong way
    outcomes = {"right": 0, "none": 0, "wrong": 0}
    # moves into a tile the player cannot enter: the game only turns the player, the view stays;
    # in sleep the game ignores moves
    blocked = blocked_still = ambiguous = 0
    by_cause = {"terrain": [0, 0], "asleep": [0, 0]}  # refused moves, of them kept still
    asleep = np.zeros(b, bool) if asleep is None else asleep
    for action, (dx, dy) in PLAYER_MOVES.items():
        roll = start_dreams(world, clips, acts, k, steps, seed, roll_kw, keep_daylight, keep_inventory, keep_terrain)
        gen = parser.parse(roll.step(np.full(b, action)).frames).tiles
        ok = n = 0
        for i in range(b):
            if not move_visible(start_tiles[i], dx, dy):
                ambiguous += 1
                continue
            target = start_tiles[i, rows // 2 + dy, cols // 2 + dx]
            if target not in WALKABLE or asleep[i]:  # the real game would only turn the player
                still = view_shift(start_tiles[i], gen[i]) == (0, 0)
                blocked += 1
                blocked_still += still
                cause = by_cause["asleep" if asleep[i] else "terrain"]
                cause[0], cause[1] = cause[0] + 1, cause[1] + still
                continue
            n += 1
            got = view_shift(start_tiles[i], gen[i])
            ok += got == (dx, dy)
            outcomes["right" if got == (dx, dy) else "none" if got == (0, 0) else "wrong"] += 1
        per_action[str(action)] = ok / max(1, n)
        correct += ok
        total += n
    return {"move_accuracy": correct / max(1, total), "cases": total, "per_action": per_action,
            "outcomes": outcomes, "blocked_still": blocked_still / max(1, blocked), "blocked_cases": blocked,
            "blocked_by_cause": {why: {"cases": n, "kept_still": still / n if n else None}
                                 for why, (n, still) in by_cause.items()},
            "ambiguous": ambiguous}


def stability(world: WorldModel, parser, clips, acts, k: int, n_steps: int, every: int, steps: int, seed: int,
              roll_kw: dict | None = None, keep_daylight: bool | None = False):
    """Closed-loop random-action rollout: validity, mean frame change, daylight and tile kinds per
    window of `every` steps, and the frames at those steps (with `keep_daylight`, lit by the game's clock)."""
    roll = start_dreams(world, clips[:1], acts[:1], k, steps, seed, roll_kw, keep_daylight)
    rng = np.random.default_rng(seed)
    prev = clips[0, k - 1]
    curve, window, changes = [], [], []
    snapshots = [prev]  # one frame per `every` steps, for the stability filmstrip
    first = parser.parse(prev[None])
    curve.append({"step": 0, "validity": first.validity(), "frame_change": 0.0, "daylight": float(first.daylight[0]),
                  "tile_kinds": tile_kinds(first.tiles)})
    for t in tqdm(range(1, n_steps + 1), desc="stability", unit="step", leave=False):
        frame = roll.step(np.array([rng.integers(17)])).frames[0]
        changes.append(float(np.abs(frame.astype(np.int16) - prev).mean()))
        window.append(frame)
        prev = frame
        if t % every == 0:
            sample = np.stack(window[:: max(1, len(window) // 50)])
            parsed = parser.parse(sample)
            # daylight too: deep-night frames are dark and grainy, and a dream stuck at night
            # passes the validity check more easily than one in daylight
            curve.append({"step": t, "validity": parsed.validity(),
                          "frame_change": float(np.mean(changes[-every:])),
                          "daylight": float(parsed.daylight.mean()),
                          # a world that keeps its frames valid can still shrink to one field of grass
                          "tile_kinds": tile_kinds(parsed.tiles)})
            snapshots.append(frame)
            window = []
    return curve, np.stack(snapshots)


def tile_kinds(tiles: np.ndarray) -> float:
    """Mean number of distinct tile classes per local view, tiles (n, rows, cols): how varied the
    world around the player is (1 = a uniform field)."""
    return float(np.mean([len(np.unique(t)) for t in tiles]))


def filmstrip(real: np.ndarray, dream: np.ndarray, path: Path, scale: int = 2) -> None:
    """PNG with the real frames on top and the dreamed ones below."""
    from PIL import Image

    top, bottom = np.concatenate(list(real), 1), np.concatenate(list(dream), 1)
    img = np.concatenate([top, np.full((4, top.shape[1], 3), 255, np.uint8), bottom], 0)
    Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST).save(path)


def side_by_side_video(real: np.ndarray, dream: np.ndarray, path: Path, scale: int = 4, fps: int = 10) -> None:
    import av

    frames = np.concatenate([real, np.full((len(real), real.shape[1], 2, 3), 255, np.uint8), dream], 2)
    frames = frames.repeat(scale, 1).repeat(scale, 2)
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]),
                                                           format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def evaluate(model: str, data: str, out: str, starts: int = 16, horizons=(1, 8, 32, 128), steps: int = 2,
             stability_steps: int = 10_000, every: int = 1000, reward_frames: int = 3000, seed: int = 0,
             context_sigma: float | None = None, reground: bool | None = None,
             guidance: float | None = None, context_windows: int = 256,
             start_sigma: float | None = None, move_gate: bool = True, fresh_steps: int | None = None,
             outcome_gate: bool = True, outcome_floor: float | None = None, keep_inventory: bool = False,
             fresh_windows: int = 512, keep_daylight: bool | None = None, keep_terrain: bool = False,
             history: int = 0) -> dict:
    world = WorldModel.load(model)
    k = world.dit.cfg.window - 1
    # How every dream here is run: the world's stored settings unless overridden.
    given = {"context_sigma": context_sigma, "reground": reground, "guidance": guidance, "start_sigma": start_sigma,
             "fresh_steps": fresh_steps, "outcome_floor": outcome_floor}
    roll_kw = {**world.rollout_defaults, **{k: v for k, v in given.items() if v is not None}}
    roll_kw["move_gate"] = move_gate and world.move_gate is not None  # whether refused moves keep the view still
    roll_kw["outcome_gate"] = outcome_gate and world.outcome_gate is not None  # whether attempts' outcomes are drawn
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    # as many starts per episode as it takes to reach `starts` (one each when there are enough episodes)
    per_episode = -(-starts // len(list_episodes(data)))
    if history < 0:
        raise ValueError(f"history must be >= 0 frames, got {history}")
    loaded = load_starts(data, k, max(horizons), starts, seed, per_episode=per_episode, history=history)
    clips, acts, asleep = loaded.frames, loaded.actions, loaded.asleep
    # The data's own size and tile view (widescreen recordings are evaluated at their size).
    h, w = clips.shape[2:4]
    parser = CrafterFrameParser(size=(w, h), view=recorded_view(data))
    # keep_daylight None: on for Crafter worlds, as SoraWorld-v0 dreams them
    keep_daylight = keeps_daylight(world, keep_daylight)
    keep_inventory = keep_inventory or keep_terrain  # the terrain is kept by the ledger
    if history and not (keep_terrain or keep_daylight):
        raise ValueError("history frames are given to the game's rules only (the memory of the world seen, the "
                         "clock): use it with keep_terrain or keep_daylight")
    try:  # which places of each scored view the prompt showed, from the game's own map (Crafter recordings)
        places = prompts_places(data, draw_windows(data, k + max(horizons), starts, seed, per_episode), k, horizons,
                                history)
    except ValueError:  # recordings without the game's map (another game): not split
        places = None
    fidelity, dream = teacher_forced(world, parser, clips, acts, k, horizons, steps, seed, roll_kw, keep_inventory,
                                     keep_daylight, keep_terrain, loaded.prompts, places)
    n_show = min(16, dream.shape[1])
    filmstrip(clips[0, k : k + n_show], dream[0, :n_show], out_dir / "filmstrip.png")
    side_by_side_video(clips[0, k:], dream[0], out_dir / "real_vs_dream.mp4")
    result = {
        "model": model, "data": data, "frame_size": [int(w), int(h)], "starts": int(len(clips)), "context": k, "denoise_steps": steps,
        "fidelity": fidelity, "keep_inventory": keep_inventory, "keep_terrain": keep_terrain, "history": history,
        "keep_daylight": keep_daylight,
        **roll_kw,
        "reward": reward_precision_recall(world, data, k, reward_frames, seed, roll_kw),
        "controllability": controllability(world, parser, clips, acts, k, steps, seed, roll_kw, asleep,
                                           keep_daylight, keep_inventory, keep_terrain),
        "context_use": context_use(world, *load_starts(data, k, 1, context_windows, seed + 1, per_episode=16)[:2],
                                   k, seed),
    }
    if fresh_windows:
        fresh = load_starts(data, k, 1, fresh_windows, seed + 2, per_episode=-(-fresh_windows // len(list_episodes(data))))
        result["fresh_strips"] = fresh_strips(world, parser, *fresh[:2], k, steps, seed, roll_kw, keep_daylight)
    if stability_steps:
        # the real game's variety, for the stability curve's tile kinds: every 4th frame of the clips
        result["real_tile_kinds"] = tile_kinds(parser.parse(clips[:, ::4].reshape(-1, *clips.shape[2:])).tiles)
        result["stability"], snaps = stability(world, parser, clips, acts, k, stability_steps, every, steps,
                                               seed, roll_kw, keep_daylight)
        # top: the real start frame repeated; bottom: the dream every `every` steps
        filmstrip(np.repeat(snaps[:1], len(snaps), 0), snaps, out_dir / "stability_filmstrip.png")
    result["seconds"] = time.time() - t0
    (out_dir / "eval.json").write_text(json.dumps(result, indent=1))
    print_table(result)
    print(f"wrote {out_dir / 'eval.json'}, {out_dir / 'filmstrip.png'}, {out_dir / 'real_vs_dream.mp4'}")
    return result


def print_table(r: dict) -> None:
    print(f"{'horizon':>8}{'PSNR dB':>10}{'tile acc':>10}{'inv acc':>10}   repeat last frame: PSNR / tile / inv")
    for hz, m in r["fidelity"].items():
        b = m["repeat_last"]
        print(f"{hz:>8}{m['psnr_db']:>10.2f}{m['tile_accuracy']:>10.3f}{m['inventory_accuracy']:>10.3f}"
              f"   {b['psnr_db']:>18.2f} / {b['tile_accuracy']:.3f} / {b['inventory_accuracy']:.3f}")
    for hz, m in r["fidelity"].items():
        light = m.get("tile_accuracy_by_light", {})
        print(f"  horizon {hz} tile acc by light: " + ", ".join(
            f"{kind} {v['model']:.3f} (repeat last {v['repeat_last']:.3f}, {v['frames']} frames)"
            for kind, v in light.items()))
    for hz, m in r["fidelity"].items():
        place = m.get("tile_accuracy_by_place", {})
        if place:
            print(f"  horizon {hz} tile acc where the prompt showed the place / not: " + ", ".join(
                f"{kind} {v['share']:.0%} of tiles: {v['model'] or 0:.3f} (repeat last {v['repeat_last'] or 0:.3f})"
                for kind, v in place.items()))
    for hz, m in r["fidelity"].items():
        shown = {n: v for n, v in m.get("view_class_share", {}).items() if max(v["real"], v["dream"]) >= 0.01}
        print(f"  horizon {hz} class share of the view, game / dream: "
              + ", ".join(f"{n} {v['real']:.1%} / {v['dream']:.1%}" for n, v in shown.items()))
    for kind, m in r["fidelity"].get("1", {}).get("tile_accuracy_after", {}).items():
        print(f"  horizon 1 after {'a move' if kind == 'move' else 'other actions'}: tile acc "
              f"{m['model']:.3f} (repeat last frame {m['repeat_last']:.3f})")
    for kind, m in r["fidelity"].get("1", {}).get("tile_accuracy_after_by_light", {}).items():
        print(f"    {kind}: {m['model']:.3f} (repeat last {m['repeat_last']:.3f}, {m['frames']} frames)")
    rw = r["reward"]
    print(f"unlock head: precision {rw['unlock_precision']:.3f}, recall {rw['unlock_recall']:.3f} "
          f"({rw['unlocks']} unlocks in {rw['frames']} frames)")
    if rw.get("achievement_named_accuracy") is not None:
        print(f"achievement named right on real unlocks: {rw['achievement_named_accuracy']:.3f}")
    print(f"termination head: precision {rw['termination_precision']:.3f}, recall {rw['termination_recall']:.3f}")
    c = r["controllability"]
    o = c.get("outcomes") or {}
    print(f"move accuracy (inverse dynamics): {c['move_accuracy']:.3f} over {c['cases']} moves"
          + (f" (view did not move: {o['none']}, moved the wrong way: {o['wrong']})" if o else ""))
    if c.get("blocked_cases"):
        print(f"blocked moves (into a tile the player cannot enter, or in sleep) that kept the view still: "
              f"{c['blocked_still']:.3f} over {c['blocked_cases']}"
              + "".join(f"; {why} {v['kept_still']:.3f} over {v['cases']}"
                        for why, v in c.get("blocked_by_cause", {}).items() if v["cases"]))
    if c.get("ambiguous"):
        print(f"moves left out where a step looks like standing still (uniform view): {c['ambiguous']}")
    cu = r["context_use"]

    def fmt(d):
        return " / ".join("-" if d[key] is None else f"{d[key]:.4f}" for key in ("all", "moves", "other"))
    print(f"next latent from context at sigma {cu['sigma']:g} ({cu['windows']} windows), MSE all / moves / other: "
          f"model {fmt(cu['model_mse'])}, repeat last {fmt(cu['repeat_last_mse'])}")
    fs = r.get("fresh_strips")
    if fs and fs["moves"]:
        shown = {n: v for n, v in fs["share"].items() if max(v["real"], v["dream"]) >= 0.01}
        print(f"strip a move brings into view ({fs['moves']} moves, {fs['tiles']} tiles; tile acc "
              f"{fs['tile_accuracy']:.3f}), class share game / dream: "
              + ", ".join(f"{n} {v['real']:.1%} / {v['dream']:.1%}" for n, v in shown.items()))
    if "stability" in r:
        print("stability:", ", ".join(f"{p['step']}: {p['validity']:.3f}/{p['frame_change']:.1f}/{p['daylight']:.2f}"
                                      f"/{p['tile_kinds']:.1f}" for p in r["stability"]),
              f"(step: validity/mean frame change/daylight/tile kinds per view; real frames: "
              f"{r['real_tile_kinds']:.1f} tile kinds)")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="worldenv/worlds/crafter72", help="world folder (default: the shipped one)")
    p.add_argument("--data", required=True, help="held-out recordings folder (collector format)")
    p.add_argument("--out", default="runs/eval")
    p.add_argument("--starts", type=int, default=16,
                   help="teacher-forced starts: one per episode, or several each when the folder has fewer episodes")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--steps", type=int, default=2, help="denoising steps per frame")
    p.add_argument("--stability-steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--reward-frames", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-sigma", type=float, default=None,
                   help="noise on cached frames (default: the world's stored setting)")
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None,
                   help="re-encode each dreamed frame from its pixels before it enters the context")
    p.add_argument("--guidance", type=float, default=None,
                   help="action guidance scale (default: the world's stored setting)")
    p.add_argument("--start-sigma", type=float, default=None,
                   help="noise level sampling starts from, on the previous frame moved with the view "
                        "(1 = from pure noise; default: the world's stored setting)")
    p.add_argument("--move-gate", action=argparse.BooleanOptionalAction, default=True,
                   help="use the world's MoveGate, if it has one (--no-move-gate: every move moves the view)")
    p.add_argument("--fresh-steps", type=int, default=None,
                   help="of --steps, how many draw the cells without a guess (inventory, new strip) from pure "
                        "noise down to the start sigma (default: the world's stored setting)")
    p.add_argument("--outcome-gate", action=argparse.BooleanOptionalAction, default=True,
                   help="use the world's OutcomeGate, if it has one (--no-outcome-gate: outcomes not judged)")
    p.add_argument("--outcome-floor", type=float, default=None,
                   help="a chance of success below this is drawn as refused (default: the world's stored setting)")
    p.add_argument("--keep-inventory", action="store_true",
                   help="teacher-forced dreams keep the items by the game's rules, as SoraWorld-v0 does on Crafter "
                        "worlds (InventoryLedger); the other measures dream without it")
    p.add_argument("--keep-terrain", action="store_true",
                   help="teacher-forced dreams also keep the terrain by the game's rules and remember the world "
                        "seen, as SoraWorld-v0 does on Crafter worlds (TerrainKeeper, WorldMemory; implies "
                        "--keep-inventory)")
    p.add_argument("--history", type=int, default=0,
                   help="teacher-forced dreams are prompted with up to this many real frames before each clip too "
                        "(the episode so far, where it is shorter): the DiT sees its window as always, the memory "
                        "of the world seen (--keep-terrain) and the clock all of them (0: the clip only)")
    p.add_argument("--keep-daylight", action=argparse.BooleanOptionalAction, default=None,
                   help="teacher-forced and stability dreams follow the game's day-night clock, as SoraWorld-v0 does "
                        "on Crafter worlds (CrafterClock; default: on for Crafter worlds); the other measures dream "
                        "without it")
    p.add_argument("--fresh-windows", type=int, default=512,
                   help="real states whose next move is dreamed for the fresh-strip class shares (0: skip)")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    return evaluate(a.model, a.data, a.out, a.starts, tuple(a.horizons), a.steps, a.stability_steps, a.every,
                    a.reward_frames, a.seed, a.context_sigma, a.reground, a.guidance, start_sigma=a.start_sigma,
                    move_gate=a.move_gate, fresh_steps=a.fresh_steps, outcome_gate=a.outcome_gate,
                    outcome_floor=a.outcome_floor, keep_inventory=a.keep_inventory, keep_terrain=a.keep_terrain,
                    history=a.history,
                    fresh_windows=a.fresh_windows,
                    keep_daylight=a.keep_daylight)


if __name__ == "__main__":
    main()
