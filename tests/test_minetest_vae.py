"""A VAE for frames resized on load (Minetest's 160x120 recordings at 64x48 or 96x72): the frame
bank, the VAE's training and its saved size, the latent cache's frame size, the world's start bank
at the latents' size, and the pixel-only evaluation at a size (scored at the native size too).
Tiny synthetic 4:3 recordings, no game and no data/ folder."""

import json

import numpy as np
import pytest
import torch

from model import vae_training, world_training
from model.data import FrameBank, start_clips
from model.latent_cache import LatentCache
from model.latent_encoding import encode_folder
from model.recordings import EpisodeWriter, write_index
from model.vae import VideoVAE

NATIVE = (160, 120)  # W, H: the Minetest recordings' size
NVEC = (3, 2)  # a small MultiDiscrete action, as the recordings' list-of-ints actions


def write_recordings(folder, episodes: int = 2, frames: int = 10, seed: int = 0) -> str:
    """`episodes` episodes of smooth moving 160x120 frames (a 3D game's view is no pixel art) with
    two-part actions, indexed as the "minetest" game's."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : NATIVE[1], 0 : NATIVE[0]].astype(np.float32)
    infos = []
    for e in range(episodes):
        w = EpisodeWriter(folder, f"ep{e}", fps=20.0)
        for t in range(frames):
            phase = 0.2 * t + e
            frame = np.stack([127 + 100 * np.sin(xx / 17 + phase), 127 + 100 * np.cos(yy / 13 - phase),
                              np.full_like(xx, 40 + 20 * e)], -1)
            w.add(frame.clip(0, 255).astype(np.uint8),
                  {"t": t, "action": [int(rng.integers(n)) for n in NVEC] if t < frames - 1 else None})
        infos.append(w.close("minetest"))
    write_index(folder, infos, game="minetest")
    return str(folder)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    return write_recordings(tmp_path_factory.mktemp("rec43"))


@pytest.fixture(scope="module")
def small_vae(recordings, tmp_path_factory):
    """A tiny VAE trained for a few steps on the recordings resized to 64x48."""
    out = tmp_path_factory.mktemp("vae") / "run"
    vae_training.main(["--data", recordings, "--size", "64", "48", "--out", str(out), "--steps", "3",
                       "--batch-size", "4", "--warmup", "1", "--channels", "8", "8", "16", "--latent-channels", "4",
                       "--threads", "1", "--no-progress", "--log-every", "1"])
    return out


def test_a_resized_frame_bank_and_start_bank_have_the_asked_size(recordings):
    assert FrameBank(recordings).frames.shape[1:] == (120, 160, 3)
    for w, h in ((64, 48), (96, 72)):
        bank = FrameBank(recordings, size=(w, h))
        assert bank.frames.shape == (20, h, w, 3) and bank.lengths == [10, 10]
        frames, actions = start_clips(recordings, 3, 4, size=(w, h))
        assert frames.shape == (3, 4, h, w, 3) and actions.shape == (3, 4, len(NVEC))
    # a resize keeps the picture: the small frame scaled back up is close to the native one
    from model.metrics import psnr
    from model.vae_evaluation import upsample

    native, small = FrameBank(recordings).frames, FrameBank(recordings, size=(96, 72)).frames
    assert psnr(native, upsample(small, NATIVE)).mean() > 25


def test_the_size_is_a_flag_and_a_recipe_key_and_must_fit_the_vae(tmp_path, recordings):
    assert vae_training.parse_args(["--data", "d"]).size is None  # native by default (Crafter's recipes)
    assert vae_training.parse_args(["--data", "d", "--size", "96", "72"]).size == (96, 72)
    recipe = tmp_path / "r.toml"
    recipe.write_text('data = "d"\nsize = [64, 48]\n')
    assert vae_training.parse_args(["--config", str(recipe)]).size == (64, 48)
    recipe.write_text('data = "d"\nsize = "64x48"\n')
    with pytest.raises(SystemExit, match="size"):
        vae_training.parse_args(["--config", str(recipe)])
    for bad in (["60", "48"], ["64"]):
        with pytest.raises(SystemExit, match="--size is W H"):
            vae_training.main(["--data", recordings, "--size", *bad, "--out", str(tmp_path / "x")])


def test_a_vae_trained_at_a_size_encodes_at_it(small_vae, recordings, tmp_path):
    vae = VideoVAE.load(small_vae / "vae.safetensors")
    assert vae.meta["frame_size"] == [64, 48]
    state = json.loads(json.dumps(vae.meta))
    assert state["steps"] == 3
    # the cache is encoded at the VAE's size unless told, and records it as [W, H]
    cache = encode_folder(str(small_vae / "vae.safetensors"), recordings, str(tmp_path / "lat"), progress=False,
                          nvec=NVEC)
    assert tuple(cache.latents.shape[1:]) == (4, 6, 8) and cache.meta["frame_size"] == [64, 48]
    cache = encode_folder(str(small_vae / "vae.safetensors"), recordings, str(tmp_path / "lat96"), progress=False,
                          nvec=NVEC, size=(96, 72))
    assert tuple(cache.latents.shape[1:]) == (4, 9, 12) and cache.meta["frame_size"] == [96, 72]
    assert LatentCache.load(tmp_path / "lat96").meta["frame_size"] == [96, 72]


def test_the_world_start_bank_is_at_the_latents_size(small_vae, recordings, tmp_path):
    encode_folder(str(small_vae / "vae.safetensors"), recordings, str(tmp_path / "lat"), progress=False, nvec=NVEC)
    from model.rollout import WorldModel

    world_training.train(world_training.parse_args([
        "--latents", str(tmp_path / "lat"), "--vae", str(small_vae / "vae.safetensors"), "--recordings", recordings,
        "--out", str(tmp_path / "world"), "--preset", "XS", "--window", "4", "--batch-size", "2", "--steps", "1",
        "--start-bank", "2", "--no-progress", "--threads", "1", "--warmup", "1", "--no-captions"]))
    world = WorldModel.load(tmp_path / "world" / "world")
    assert tuple(world.start_frames.shape) == (2, 3, 48, 64, 3)


def test_the_pixel_evaluation_scores_at_the_size_and_the_native_size(small_vae, recordings, capsys):
    import sys
    from pathlib import Path

    from model.vae_evaluation import evaluate, main, print_table

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from evaluate_vae import tile_reader

    assert tile_reader(recordings) is None  # a game without a frame parser: pixels only
    r = evaluate(str(small_vae / "vae.safetensors"), recordings, None, n_frames=8, batch=4, move_pairs_n=0)
    assert r["size"] == [64, 48] and r["latent"] == [4, 6, 8] and r["frames"] == 8
    n = r["native"]
    assert n["size"] == [160, 120] and n["psnr_db_resize_only"] > n["psnr_db"]
    assert np.isfinite(r["psnr_db"]) and r["encode_decode_ms_per_frame"] > 0
    print_table(r)
    assert "160x120" in capsys.readouterr().out
    r = main(["--vae", str(small_vae / "vae.safetensors"), "--data", recordings, "--frames", "4", "--batch", "4",
              "--size", "96", "72", "--threads", "1"], tile_reader=tile_reader)
    assert r["size"] == [96, 72] and r["native"]["size"] == [160, 120]
    torch.set_num_threads(1)


def test_the_minetest_recipe_loads_and_trains_on_tiny_recordings(recordings, tmp_path):
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "configs" / "minetest" / "vae.toml"
    cfg = vae_training.parse_args(["--config", str(recipe)])
    assert cfg.size == (96, 72) and cfg.data == "data/minetest" and cfg.out == "runs/minetest_vae"
    assert cfg.vae.channels == (32, 64, 128) and cfg.vae.latent_channels == 16 and cfg.ckpt_every == 250
    out = tmp_path / "run"
    flags = ["--config", str(recipe), "--data", recordings, "--out", str(out), "--steps", "2", "--batch-size", "2",
             "--channels", "8", "8", "16", "--threads", "1", "--no-progress", "--max-frames", "0"]
    vae_training.main(flags)
    assert VideoVAE.load(out / "vae.safetensors").meta["frame_size"] == [96, 72]
    vae_training.main(flags[:flags.index("--steps")] + ["--steps", "3"] + flags[flags.index("--steps") + 2:]
                      + ["--resume"])  # a resumed run goes on from its checkpoint at the same size
    assert VideoVAE.load(out / "vae.safetensors").meta["steps"] == 3


def test_shipping_a_world_of_a_resized_vae_resizes_its_start_bank(small_vae, recordings, tmp_path):
    from model.dit import DiTConfig, SpacetimeDiT
    from model.rollout import WorldModel
    from model.world_export import ship

    vae = VideoVAE.load(small_vae / "vae.safetensors")  # trained at 64x48 (its meta's frame_size)
    dit = SpacetimeDiT(DiTConfig(action_nvec=NVEC, latent_channels=4, patch=2, dim=32, depth=1, heads=2, window=4))
    frames = torch.zeros(2, 3, 48, 64, 3, dtype=torch.uint8)
    WorldModel(vae, dit, frames, torch.full((2, 3, len(NVEC)), -1), {}).save(tmp_path / "w")
    ship(str(tmp_path / "w"), str(tmp_path / "shipped"), start_bank=recordings)  # 160x120 recordings
    world = WorldModel.load(tmp_path / "shipped")
    assert tuple(world.start_frames.shape) == (2, 3, 48, 64, 3) and world.start_frames.float().mean() > 0


def test_the_size_comparison_prints_a_table_and_writes_json(small_vae, recordings, tmp_path, capsys):
    from model.vae_sizes import main

    out = tmp_path / "sizes.json"
    r = main(["--vae", str(small_vae / "vae.safetensors"), "--data", recordings, "--frames", "6", "--batch", "3",
              "--json", str(out)])
    row = json.loads(out.read_text())["results"][0]
    assert row["size"] == [64, 48] and row["dit_tokens_per_frame"] == {"patch1": 48, "patch2": 12}
    assert row["train_steps"] == 3 and row["decode_ms_batch1"] > 0 and r["results"][0]["latent"] == [4, 6, 8]
    assert "64x48" in capsys.readouterr().out
    torch.set_num_threads(1)
