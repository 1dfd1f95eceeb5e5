"""Rare-tile loss weights: class weights from counts, pixel maps that sit on the real tiles, and a
VAE run that uses them."""

import numpy as np
import pytest
import torch

from model.data import FrameBank
from model.recordings import RecordingError
from model.tile_weights import class_weights, pixel_weights
from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.parse import CLASS_NAMES, CrafterFrameParser


def test_class_weights_follow_rarity_up_to_the_cap():
    tiles = np.array([2] * 400 + [6] * 100 + [14] * 4)  # grass, tree, cow
    w = class_weights(tiles, cap=8.0)
    assert w[2] == 1 and w[6] == pytest.approx(2.0) and w[14] == pytest.approx(8.0)  # sqrt(100) capped
    assert w[0] == 1  # classes never seen keep weight 1
    with pytest.raises(ValueError, match=">= 1"):
        class_weights(tiles, cap=0.5)


@pytest.mark.parametrize("size", [(64, 64), (72, 72), (96, 64)])
def test_pixel_weights_cover_each_tile_where_the_game_drew_it(tmp_path, size):
    view = (13, 9) if size[0] == 96 else (9, 9)
    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="explore", out=str(data), seed=3, workers=1, max_steps=40,
                          size=size, view=view, area=(12, 12)), progress=False)
    bank = FrameBank(data, tiles=True)
    assert bank.view == view and bank.tiles.shape == (len(bank), 7, view[0])
    assert (bank.tiles == 0).any()  # the small test world's edge: the recorder's -1 is the void class
    # weight 5 on trees only: the weighted pixels must be exactly the pixels of the tiles the frame
    # parser reads as trees (up to the rare tile the parser gets wrong)
    weights = np.ones(len(CLASS_NAMES), np.float32)
    tree = CLASS_NAMES.index("tree")
    weights[tree] = 5
    pw = pixel_weights(bank.tiles, weights, size, view)
    assert pw.shape == (len(bank), size[1], size[0]) and set(np.unique(pw)) <= {1.0, 5.0}
    parser = CrafterFrameParser(size=size, view=view)
    u, (bx, by) = parser.unit, parser.view_origin
    parsed = parser.parse(bank.frames).tiles
    centres = pw[:, by + u // 2 : by + 7 * u : u, bx + u // 2 : bx + view[0] * u : u]  # one pixel per tile
    assert ((centres == 5) == (parsed == tree)).mean() > 0.99
    assert (pw[:, parser.view_bottom :] == 1).all()  # the inventory is not weighted
    with pytest.raises(ValueError, match="do not fit"):
        pixel_weights(bank.tiles, weights, size, (view[0] + 1, view[1]))


def test_a_vae_trains_with_rare_tile_weights(tmp_path):
    from model.vae import VAEConfig, VideoVAE
    from model.vae_training import TrainVAEConfig, train

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="explore", out=str(data), seed=2, workers=1, max_steps=64,
                          size=(64, 64)),
            progress=False)
    cfg = TrainVAEConfig(data=str(data), out=str(tmp_path / "run"), steps=30, batch_size=8, lr=5e-3, warmup=5,
                         log_every=10, progress=False, rare_tile_weight=10.0,
                         vae=VAEConfig(latent_channels=4, channels=(8, 16, 16)))
    final = train(cfg)
    rows = [line.split(",") for line in (tmp_path / "run" / "log.csv").read_text().splitlines()]
    loss = [float(r[rows[0].index("loss")]) for r in rows[1:]]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    assert torch.isfinite(VideoVAE.load(final).encode(torch.zeros(1, 1, 3, 64, 64))).all()


def test_rare_tile_weights_need_recordings_with_tile_maps(tmp_path):
    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=2, workers=1, max_steps=8,
                          size=(64, 64)),
            progress=False)
    jsonl = next(data.glob("*.jsonl"))
    jsonl.write_text(jsonl.read_text().replace('"tiles"', '"no_tiles"'))
    with pytest.raises(RecordingError, match="'tiles' map"):
        FrameBank(data, tiles=True)
    assert FrameBank(data).tiles is None
