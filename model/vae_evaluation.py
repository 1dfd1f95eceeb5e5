"""Evaluate a VideoVAE on held-out recordings: PSNR, tile and inventory accuracy, speed.

    python scripts/evaluate_vae.py --vae runs/vae/vae.safetensors --data data/game_heldout \
        --frames 2000 --json runs/vae/eval.json

Tile accuracy parses the reconstruction and the real frame with the game's frame parser (which
the script gets from the recordings' game plugin; docs/evaluation.md) and counts local-view tiles
whose classes match; recall per tile class shows which ones a VAE loses (small objects first).
Speed is encode + decode of batches of `--batch` frames (bf16 autocast on CPU), in ms per frame.

Latent move test: a player move shifts the view by one tile. Where latent cells line up with the
tiles (8-px tiles: frames of 72x72 for a 9x9 view), that is a shift of the latent by one cell;
at 64x64 a tile is 7 px, 7/8 of a cell, and a latent shift only approximates it. On held-out
frame pairs where the player moved (jsonl `player_pos`), the latent of the frame before is shifted
by the tile's size in cells and decoded; its tiles are compared with the real frame after, over
the local view less the tiles that came into view and the player's own tile, next to the same for
the unshifted latent. How well a shift explains a move is how easy moves are for a world model
working in this latent space.

Against the game: recordings of a tile-based game may carry the game's own map of the local view
(jsonl `tiles`) and its daylight. A game may draw random grain over the view at night, and some
tiles cannot be read from the real frame at all. So on such recordings the evaluation also
reports, per band of the game's daylight (and for the frames where the player sleeps), how often
the parser reads the *real* frame right (the ceiling for any reconstruction), how often it reads
the reconstruction right, and how often the reconstruction is right where the real frame was:
what the VAE loses of what the frame shows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from model.cli import command_line
from model.data import FrameBank
from model.metrics import psnr
from model.training import autocast, bf16_in_effect, pick_device
from model.vae import SPATIAL_FACTOR, VideoVAE


@torch.no_grad()
def reconstruct(vae: VideoVAE, frames: np.ndarray, batch: int, bf16: bool) -> tuple[np.ndarray, float]:
    """Reconstructions of (n, H, W, 3) uint8 frames and the ms per frame of encode + decode."""
    device = next(vae.parameters()).device
    out, seconds = [], 0.0
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(frames[i : i + batch])
        t0 = time.perf_counter()
        with autocast(device, bf16):
            y = vae.decode_images(vae.encode_images(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        out.append(y.cpu().numpy())
    return np.concatenate(out), 1000 * seconds / len(frames)


def move_pairs(data: str, n: int, seed: int = 0):
    """Up to `n` held-out (frame before, frame after, (dx, dy)) where the player moved one tile."""
    from model.recordings import list_episodes, load_episode

    rng = np.random.default_rng(seed)
    before, after, moves = [], [], []
    for info in rng.permutation(list_episodes(data)):
        ep = load_episode(data, info)
        pos = [r.get("player_pos") for r in ep.records]
        for t in range(1, len(pos)):
            if pos[t] is None or pos[t - 1] is None:
                continue
            d = (pos[t][0] - pos[t - 1][0], pos[t][1] - pos[t - 1][1])
            if abs(d[0]) + abs(d[1]) == 1:
                before.append(ep.frames[t - 1])
                after.append(ep.frames[t])
                moves.append(d)
        if len(moves) >= 4 * n:
            break
    if not moves:
        raise ValueError(f"{data}: no frame pairs where the player moved (the move test needs the jsonl "
                         "`player_pos` of a tile-based game's recordings; --move-pairs 0 skips it)")
    pick = np.sort(rng.choice(len(moves), size=min(n, len(moves)), replace=False))
    return np.stack(before)[pick], np.stack(after)[pick], np.array(moves)[pick]


def shift_latent(z: torch.Tensor, move: tuple[int, int], cells: float) -> torch.Tensor:
    """Latent (c, h, w) of the view after the player moved by `move` (dx, dy) tiles, from the view
    before: content moves the other way by `cells` latent cells (bilinear where fractional,
    edge values where it runs out)."""
    import torch.nn.functional as F

    c, h, w = z.shape
    ys = torch.arange(h, dtype=torch.float32) + move[1] * cells
    xs = torch.arange(w, dtype=torch.float32) + move[0] * cells
    gy, gx = torch.meshgrid(ys / max(1, h - 1) * 2 - 1, xs / max(1, w - 1) * 2 - 1, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(z[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=True)[0]


@torch.no_grad()
def latent_move_test(vae: VideoVAE, parser, before: np.ndarray, after: np.ndarray, moves: np.ndarray,
                     bf16: bool) -> dict:
    """Tile accuracy of decode(shift(encode(before))) against `after` (module docstring)."""
    device = next(vae.parameters()).device
    with autocast(device, bf16):
        z = vae.encode_images(torch.from_numpy(before).to(device)).float().cpu()
    cells = parser.unit / SPATIAL_FACTOR
    # only the latent rows of the local view move; the inventory below stays where it is
    view_rows = int(np.ceil(parser.view_bottom / SPATIAL_FACTOR))
    shifted = z.clone()
    for i, m in enumerate(moves):
        shifted[i, :, :view_rows] = shift_latent(z[i], (int(m[0]), int(m[1])), cells)[:, :view_rows]
    with autocast(device, bf16):
        dec_shift = vae.decode_images(shifted.to(device)).cpu().numpy()
        dec_keep = vae.decode_images(z.to(device)).cpu().numpy()
    real = parser.parse(after).tiles
    rows, cols = real.shape[1:]
    keep = np.ones((len(moves), rows, cols), bool)
    for i, (dx, dy) in enumerate(moves):
        if dx:
            keep[i, :, cols - 1 if dx > 0 else 0] = False  # the column that came into view
        if dy:
            keep[i, rows - 1 if dy > 0 else 0, :] = False
        # the player: drawn at the centre, where its facing changes, and its old sprite, which the
        # shift carried one tile away from the centre
        keep[i, rows // 2, cols // 2] = keep[i, rows // 2 - dy, cols // 2 - dx] = False
    acc = {name: float((parser.parse(d).tiles == real)[keep].mean())
           for name, d in (("shifted", dec_shift), ("unshifted", dec_keep))}
    return {"pairs": int(len(moves)), "cells_per_tile": cells, "tile_accuracy": acc}


DAYLIGHT_BANDS = (("day", 0.5, 2.0), ("dusk", 0.1, 0.5), ("deep night", -1.0, 0.1))  # (name, from, to)


def light_bands(daylight: np.ndarray, sleeping: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{band name: mask (n,)} of the `DAYLIGHT_BANDS` that hold any of the frames' `daylight` (n,),
    then "asleep": the frames of any band where the player sleeps (`sleeping` (n,), if given and any).
    Asleep a game may keep only part of the light (e.g. half the luma), so most misreads of real frames are there."""
    bands = {name: m for name, lo, hi in DAYLIGHT_BANDS if (m := (daylight >= lo) & (daylight < hi)).any()}
    if sleeping is not None and sleeping.any():
        bands["asleep"] = np.asarray(sleeping, bool)
    return bands


def against_game(real_tiles: np.ndarray, rec_tiles: np.ndarray, truth: np.ndarray, daylight: np.ndarray,
                 sleeping: np.ndarray | None = None) -> dict:
    """Parsed tiles of real frames and their reconstructions (n, rows, cols) against the game's map
    `truth`, overall and per band of the game's `daylight` (n,) and `sleeping` (module docstring)."""

    def scores(m: np.ndarray) -> dict:
        real_ok, rec_ok = (real_tiles == truth)[m], (rec_tiles == truth)[m]
        return {"frames": int(m.sum()), "real_frame": float(real_ok.mean()), "reconstruction": float(rec_ok.mean()),
                "reconstruction_where_real_right": float(rec_ok[real_ok].mean()) if real_ok.any() else None}

    out = scores(np.ones(len(truth), bool))
    out["by_daylight"] = {name: scores(m) for name, m in light_bands(daylight, sleeping).items()}
    return out


def upsample(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 frames (n, h, w, 3) resized to `size` (W, H), bilinear (as a player's window would
    scale them up)."""
    x = torch.from_numpy(frames).movedim(-1, 1).float()
    y = torch.nn.functional.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).movedim(1, -1).numpy()


def native_scores(real_native: np.ndarray, real: np.ndarray, recon: np.ndarray) -> dict:
    """PSNR against the recordings' own frames (n, H, W, 3) of frames evaluated at a smaller size:
    the reconstruction scaled back up (`upsample`), and the resize alone (the real small frame scaled
    back up: the most any VAE at that size can reach), so that sizes compare in the same pixels."""
    H, W = real_native.shape[1:3]
    return {"size": [int(W), int(H)],
            "psnr_db": float(psnr(real_native, upsample(recon, (W, H))).mean()),
            "psnr_db_resize_only": float(psnr(real_native, upsample(real, (W, H))).mean())}


def evaluate(vae_path: str, data: str, parser_for, n_frames: int = 2000, batch: int = 256,
             bf16: bool = True, device: str = "cpu", seed: int = 0, move_pairs_n: int = 500,
             size: tuple[int, int] | None = None) -> dict:
    """Scores of the VAE at `vae_path` on frames of the recordings `data` (module docstring).
    `parser_for(size, view)` gives the game's frame parser for frames of `size` (W, H) with a tile
    `view` (cols, rows): `parse(frames)` gives `.tiles`, `.inventory` and `.daylight`, `unit` is a
    tile's size in pixels, `view_bottom` the local view's bottom pixel row and `class_names` (if it
    has them) name the tile classes. `parser_for` None (a game without a frame parser, e.g. a 3D
    game): PSNR and speed only. `size` (W, H): the frames are resized to it on load (a VAE trained
    with `--size`; None: the VAE's training size, else native), and the PSNR is also given against
    the native frames with the reconstruction scaled back up (`native_scores`)."""
    from model.latent_encoding import vae_frame_size
    from model.recordings import RecordingError

    vae = VideoVAE.load(vae_path).to(pick_device(device))
    size = tuple(size) if size is not None else vae_frame_size(vae)
    try:  # a tile-based game's recordings: the game's tile map and daylight come along
        if parser_for is None:
            raise RecordingError("no frame parser: pixels only")
        bank, game = FrameBank(data, size=size, tiles=True, light=True), True
    except RecordingError:
        bank, game = FrameBank(data, size=size), False
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(bank), size=min(n_frames, len(bank)), replace=False)
    idx = np.sort(idx)
    real = bank.frames[idx]
    # warm-up so one-off allocation does not count as speed
    reconstruct(vae, real[:batch], batch, bf16)
    recon, ms = reconstruct(vae, real, batch, bf16)
    h, w = real.shape[1:3]
    native = None
    if size is not None:
        full = FrameBank(data).frames
        if full.shape[1:3] != real.shape[1:3]:
            native = native_scores(full[idx], real, recon)
        del full
    if parser_for is None:
        ps = psnr(real, recon)
        return {"vae": vae_path, "data": data, "frames": int(len(real)), "size": [int(w), int(h)],
                "psnr_db": float(ps.mean()), "psnr_db_p10": float(np.percentile(ps, 10)), "native": native,
                "encode_decode_ms_per_frame": ms, "batch": batch,
                "bf16": bf16_in_effect(pick_device(device), bf16), "threads": torch.get_num_threads(),
                "params": sum(p.numel() for p in vae.parameters()),
                "latent": [int(vae.cfg.latent_channels), int(h) // SPATIAL_FACTOR, int(w) // SPATIAL_FACTOR]}
    from model.recordings import recorded_view

    parser = parser_for((w, h), recorded_view(data))
    p_real, p_rec = parser.parse(real), parser.parse(recon)
    tile_acc = float((p_real.tiles == p_rec.tiles).mean())
    inv_acc = float((p_real.inventory == p_rec.inventory).mean())
    ps = psnr(real, recon)
    dark = p_real.daylight < 0.5
    hit = p_real.tiles == p_rec.tiles
    names = getattr(parser, "class_names", None)
    recall = {(names[c] if names is not None else str(c)): float(hit[p_real.tiles == c].mean())
              for c in np.unique(p_real.tiles)
              if (p_real.tiles == c).sum() >= 20}  # classes with too few tiles say nothing
    truth = None
    if game and bank.tiles.shape[1:] == p_real.tiles.shape[1:]:
        truth = against_game(p_real.tiles, p_rec.tiles, bank.tiles[idx], bank.daylight[idx], bank.sleeping[idx])
    move = None
    if move_pairs_n:
        move = latent_move_test(vae, parser, *move_pairs(data, move_pairs_n, seed), bf16)
    return {
        "vae": vae_path, "data": data, "frames": int(len(real)), "size": [int(w), int(h)], "native": native,
        "psnr_db": float(ps.mean()), "psnr_db_day": float(ps[~dark].mean()) if (~dark).any() else None,
        "psnr_db_night": float(ps[dark].mean()) if dark.any() else None,
        "tile_accuracy": tile_acc,
        "tile_accuracy_day": float((p_real.tiles == p_rec.tiles)[~dark].mean()) if (~dark).any() else None,
        "tile_accuracy_night": float((p_real.tiles == p_rec.tiles)[dark].mean()) if dark.any() else None,
        "tile_recall_by_class": recall,
        "inventory_accuracy": inv_acc,
        "against_game": truth,
        "latent_move_test": move,
        "encode_decode_ms_per_frame": ms, "batch": batch, "bf16": bf16_in_effect(pick_device(device), bf16), "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in vae.parameters()),
    }


def _fmt(*values, digits: int) -> str:
    return " / ".join("-" if v is None else f"{v:.{digits}f}" for v in values)


def print_table(r: dict) -> None:
    if "tile_accuracy" not in r:  # pixels only (a game without a frame parser)
        rows = [("frames", r["frames"]), ("size (latent c x h x w)", f"{r['size'][0]}x{r['size'][1]} "
                 f"({' x '.join(map(str, r['latent']))})"),
                ("PSNR dB (mean / 10th percentile)", _fmt(r["psnr_db"], r["psnr_db_p10"], digits=2))]
        n = r.get("native")
        if n:
            rows.append((f"PSNR dB at {n['size'][0]}x{n['size'][1]}: recon upsampled / resize only",
                         _fmt(n["psnr_db"], n["psnr_db_resize_only"], digits=2)))
        rows.append(("encode+decode ms/frame",
                     f"{r['encode_decode_ms_per_frame']:.3f} (batch {r['batch']}, {r['threads']} threads)"))
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
        return
    rows = [
        ("frames", r["frames"]),
        ("PSNR dB (all / day / night)", _fmt(r["psnr_db"], r["psnr_db_day"], r["psnr_db_night"], digits=2)),
        ("tile accuracy (all / day / night)",
         _fmt(r["tile_accuracy"], r["tile_accuracy_day"], r["tile_accuracy_night"], digits=4)),
        ("inventory accuracy", f"{r['inventory_accuracy']:.4f}"),
        ("tile recall by class", ", ".join(f"{k} {v:.2f}" for k, v in
                                          sorted(r.get("tile_recall_by_class", {}).items(), key=lambda kv: kv[1]))),
        ("encode+decode ms/frame", f"{r['encode_decode_ms_per_frame']:.3f} (batch {r['batch']}, {r['threads']} threads)"),
    ]
    g = r.get("against_game")
    if g:
        rows.append(("vs the game's map: real / recon / recon where real right", ""))
        for name, b in [("all", g)] + list(g["by_daylight"].items()):
            rows.append((f"  {name} ({b['frames']} frames)",
                         _fmt(b["real_frame"], b["reconstruction"], b["reconstruction_where_real_right"], digits=4)))
    m = r.get("latent_move_test")
    if m:
        rows.append(("latent move test: tile acc shifted / not",
                     f"{m['tile_accuracy']['shifted']:.4f} / {m['tile_accuracy']['unshifted']:.4f} "
                     f"({m['pairs']} moves, {m['cells_per_tile']:g} cells per tile)"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


@command_line
def main(argv=None, tile_reader=None) -> dict:
    """`scripts/evaluate_vae.py`, which passes `tile_reader(data)`: the `parser_for(size, view)` of the
    game the recordings in `data` hold (`evaluate`)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", required=True)
    p.add_argument("--data", required=True, help="held-out recordings folder")
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--move-pairs", type=int, default=500,
                   help="frame pairs for the latent move test (0: skip it)")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="resize the frames to W H (default: the VAE's training size, else native); the "
                   "PSNR is then also given at the native size, the reconstruction scaled back up")
    p.add_argument("--json", default="", help="write the results here")
    a = p.parse_args(argv)
    if tile_reader is None:
        raise SystemExit("error: evaluating a VAE needs the game's frame parser (scripts/evaluate_vae.py passes it)")
    if a.threads:
        torch.set_num_threads(a.threads)
    from model.recordings import RecordingError

    try:
        r = evaluate(a.vae, a.data, tile_reader(a.data), a.frames, a.batch, a.bf16, a.device,
                     move_pairs_n=a.move_pairs, size=tuple(a.size) if a.size else None)
    except RecordingError as e:
        raise SystemExit(f"error: {e}") from None
    print_table(r)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(r, indent=1))
        print(f"wrote {a.json}")
    return r
