"""VAE evaluation (model/vae_evaluation.py, scripts/evaluate_vae.py): per-class tile recall and the
latent move test, checked with an exact "VAE" whose latent cells are the frame's own 8x8 pixel blocks."""

import json

import numpy as np
import torch

from model import vae_evaluation as evaluate_vae
from model.vae import SPATIAL_FACTOR
from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.parse import CLASS_NAMES, CrafterFrameParser


def crafter_tiles(data):
    """The `tile_reader` scripts/evaluate_vae.py builds from the game plugin, for Crafter."""

    def parser_for(size, view):
        parser = CrafterFrameParser(size=size, view=view)
        parser.class_names = CLASS_NAMES
        return parser

    return parser_for


class PixelBlocks(torch.nn.Module):
    """encode = each 8x8 pixel block as one latent cell (192 channels), decode = the inverse:
    lossless, so the move test measures only how well a latent shift explains a move."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode_images(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.float().permute(0, 3, 1, 2)  # (n, 3, H, W)
        return torch.nn.functional.pixel_unshuffle(x, SPATIAL_FACTOR)

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pixel_shuffle(z, SPATIAL_FACTOR)
        return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def test_shift_latent_moves_content_against_the_player():
    z = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(2, 4, 5)
    right = evaluate_vae.shift_latent(z, (1, 0), 1.0)  # the player steps right: content moves left
    assert torch.allclose(right[:, :, :-1], z[:, :, 1:]) and torch.allclose(right[:, :, -1], z[:, :, -1])
    down = evaluate_vae.shift_latent(z, (0, 1), 1.0)
    assert torch.allclose(down[:, :-1], z[:, 1:])
    half = evaluate_vae.shift_latent(z, (-1, 0), 0.5)  # fractional: bilinear between neighbours
    assert torch.allclose(half[:, :, 1:], (z[:, :, 1:] + z[:, :, :-1]) / 2)


def test_latent_move_test_on_tile_aligned_and_unaligned_frames(tmp_path):
    acc = {}
    for size in (72, 64):  # the same play rendered with 8-px and 7-px tiles
        data = tmp_path / f"d{size}"
        collect(CollectConfig(episodes=2, policy="explore", out=str(data), seed=11, workers=1, max_steps=120,
                              size=(size, size)), progress=False)
        before, after, moves = evaluate_vae.move_pairs(str(data), 60)
        assert len(moves) >= 20 and set(map(tuple, moves)) <= {(1, 0), (-1, 0), (0, 1), (0, -1)}
        parser = CrafterFrameParser(size=(size, size))
        r = evaluate_vae.latent_move_test(PixelBlocks(), parser, before, after, moves, bf16=False)
        assert r["pairs"] == len(moves) and r["cells_per_tile"] == parser.unit / SPATIAL_FACTOR
        acc[size] = r["tile_accuracy"]
    # 8-px tiles: a move is exactly a one-cell shift of the latent (creatures that moved aside); a shift the wrong
    # way or by the wrong amount would score far lower than not shifting at all
    assert acc[72]["shifted"] > 0.95 and acc[72]["shifted"] > acc[72]["unshifted"] + 0.1
    # 7-px tiles: a 7/8-cell shift only approximates a move
    assert acc[64]["shifted"] < acc[72]["shifted"] - 0.05, acc


def test_evaluate_reports_recall_by_class_and_the_move_test(tmp_path, tiny_world):
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=1, policy="explore", out=str(data), seed=5, workers=1, max_steps=80,
                          size=(64, 64)),
            progress=False)
    out = tmp_path / "eval.json"
    r = evaluate_vae.main(["--vae", str(tiny_world / "vae.safetensors"), "--data", str(data), "--frames", "40",
                           "--batch", "20", "--move-pairs", "10", "--json", str(out)], tile_reader=crafter_tiles)
    saved = json.loads(out.read_text())
    assert saved["tile_recall_by_class"] == r["tile_recall_by_class"] and "grass" in r["tile_recall_by_class"]
    assert all(0 <= v <= 1 for v in r["tile_recall_by_class"].values())
    assert 1 <= r["latent_move_test"]["pairs"] <= 10
    assert r["latent_move_test"]["cells_per_tile"] == 7 / 8
    g = r["against_game"]  # Crafter recordings: parsed tiles against the game's own map
    assert g is not None and g["frames"] == 40 and g["real_frame"] > 0.9
    bands = [name for name, _, _ in evaluate_vae.DAYLIGHT_BANDS]  # ("asleep" overlaps them)
    assert sum(b["frames"] for k, b in g["by_daylight"].items() if k in bands) == 40
    skipped = evaluate_vae.main(["--vae", str(tiny_world / "vae.safetensors"), "--data", str(data),
                                 "--frames", "20", "--batch", "20", "--move-pairs", "0"], tile_reader=crafter_tiles)
    assert skipped["latent_move_test"] is None
    # the script reads the tiles with the frame parser of the recordings' game, from its plugin
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_vae.py"
    run = subprocess.run([sys.executable, str(script), "--vae", str(tiny_world / "vae.safetensors"), "--data",
                          str(data), "--frames", "20", "--batch", "20", "--move-pairs", "0", "--threads", "1",
                          "--json", str(tmp_path / "script.json")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    by_script = json.loads((tmp_path / "script.json").read_text())
    assert by_script["tile_recall_by_class"] == skipped["tile_recall_by_class"]


def test_against_game_scores_real_frames_and_reconstructions_per_daylight_band():
    """Three one-row frames (day, dusk, deep night) of two tiles against the game's map."""
    truth = np.array([[[2, 5]]] * 3)
    real = truth.copy()
    real[2, 0, 1] = 0  # grain: the parser misreads a deep-night tile of the real frame
    rec = truth.copy()
    rec[1, 0, 0] = rec[2, 0, 0] = 3
    rec[2, 0, 1] = 0
    g = evaluate_vae.against_game(real, rec, truth, np.array([0.9, 0.3, 0.05]))
    assert (g["real_frame"], g["reconstruction"], g["reconstruction_where_real_right"]) == (5 / 6, 0.5, 0.6)
    day, dusk, night = (g["by_daylight"][k] for k in ("day", "dusk", "deep night"))
    assert (day["real_frame"], day["reconstruction"], day["frames"]) == (1.0, 1.0, 1)
    assert (dusk["reconstruction"], dusk["reconstruction_where_real_right"]) == (0.5, 0.5)
    assert (night["real_frame"], night["reconstruction"], night["reconstruction_where_real_right"]) == (0.5, 0.0, 0.0)
    assert "asleep" not in g["by_daylight"]  # no sleeping flags given
    g = evaluate_vae.against_game(real, rec, truth, np.array([0.9, 0.3, 0.05]), np.array([False, False, True]))
    asleep = g["by_daylight"]["asleep"]  # the deep-night frame, counted in its daylight band too
    assert asleep == night and g["by_daylight"]["day"] == day
