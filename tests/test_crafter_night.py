"""Crafter's night re-rendered from day frames, checked against the game's own renderer."""

import numpy as np
import pytest

from worldenv.games.crafter.env import CrafterEnv
from worldenv.games.crafter.night import CrafterNight
from worldenv.games.crafter.parse import CrafterFrameParser
from worldenv.games.crafter.replay import grain_at_mean


@pytest.fixture(scope="module", params=[(72, 72), (64, 64)])
def game(request):
    env = CrafterEnv(size=request.param)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(25):
        env.step(int(rng.integers(1, 5)))
    return env


def _render(game, daylight, sleeping=False, mean_grain=False):
    world, player = game.game._world, game.game._player
    old = world.daylight, player.sleeping
    world.daylight, player.sleeping = daylight, sleeping
    try:
        if mean_grain:  # the game's own renderer with its uniform 32..127 grain at the mean, 79.5
            with grain_at_mean():
                return game.game.render()
        return game.game.render()
    finally:
        world.daylight, player.sleeping = old


def test_day_frames_are_undarkened_and_night_matches_the_game(game):
    size = game.game._size
    night = CrafterNight(size=tuple(size), view=(9, 9))
    y0, y1, x0, x1 = night.box
    full_day = _render(game, 1.0)
    for d0 in (1.0, 0.9, 0.6):  # darkening without grain is inverted up to the game's rounding
        canvas = night.canvas(_render(game, d0)[None], np.array([d0]))
        assert np.abs(canvas[0] - full_day[y0:y1, x0:x1]).max() <= 2.5
    canvas = night.canvas(_render(game, 0.9)[None], np.array([0.9]))
    rng = np.random.default_rng(1)
    for d in (0.8, 0.3, 0.0):
        grainy, clean = night.render(full_day[None], canvas, np.array([d]), np.array([False]), rng)
        game_clean = _render(game, d, mean_grain=True)
        err = np.abs(clean[0].astype(int) - game_clean.astype(int))
        assert err.max() <= 2 and err.mean() < 1
        game_grainy = _render(game, d)
        # grain is random per frame: its statistics match the game's, its pixels do not
        assert abs(grainy[0].std() - game_grainy.std()) < 1.0
        if d < 0.5:
            assert np.abs(grainy[0].astype(int) - clean[0]).mean() > 1
        else:
            assert np.array_equal(grainy, clean)
        assert np.array_equal(grainy[0, y1:], full_day[y1:])  # inventory rows are not darkened


def test_the_parser_reads_both_renders_as_the_day_frame(game):
    size = tuple(game.game._size)
    night = CrafterNight(size=size, view=(9, 9))
    parser = CrafterFrameParser(size=size, view=(9, 9))
    day = _render(game, 1.0)
    canvas = night.canvas(day[None], np.array([1.0]))
    grainy, clean = night.render(np.repeat(day[None], 4, 0), np.repeat(canvas, 4, 0), np.array([0.4, 0.2, 0.1, 0.0]),
                                 np.array([False, False, True, False]), np.random.default_rng(2))
    want = parser.parse(day[None]).tiles
    assert (parser.parse(clean).tiles == want).mean() > 0.95
    assert (parser.parse(grainy).tiles == want).mean() > 0.95


def test_contrast_gains_say_how_much_of_a_canvas_change_the_night_shows():
    night = CrafterNight(size=(72, 72), view=(9, 9))
    y0, y1, x0, x1 = night.box
    frames = np.zeros((1, 72, 72, 3), np.uint8)
    rng = np.random.default_rng(0)
    base = rng.uniform(60, 180, (1, y1 - y0, x1 - x0, 3))
    # a change along the grey axis, and one of colour only (no luma for PIL's grey, which the
    # night's desaturation keeps)
    changes = {0: np.full(3, 60.0), 1: np.array([58.7, -29.9, 0.0])}
    for d in (0.8, 0.3, 0.0):
        for sleeping in (False, True):
            gains = night.contrast_gains(np.array([d]), np.array([sleeping]))[0]
            shown = {}
            for k, delta in [(None, 0)] + list(changes.items()):
                shown[k] = night.render(frames, base + delta, np.array([d]), np.array([sleeping]), rng)[1]
            for k, delta in changes.items():
                got = (shown[k][0, y0:y1, x0:x1].astype(float) - shown[None][0, y0:y1, x0:x1])
                want = gains[..., k, None] * delta
                assert np.abs(got - want).max() <= 2.5, (d, sleeping, k)  # the game rounds twice
    deep = night.contrast_gains(np.array([0.0]), np.array([False]))[0]
    assert deep[0, 0, 1] < 0.01 and deep[28, 36, 1] > 0.19  # the corner keeps < 1 % of its colour
    assert np.allclose(night.contrast_gains(np.array([1.0]), np.array([False])), 1.0)
    with pytest.raises(ValueError, match="one daylight and one sleeping flag"):
        night.contrast_gains(np.array([0.5, 0.2]), np.array([False]))


def test_bad_input_names_the_problem():
    night = CrafterNight()
    with pytest.raises(ValueError, match=r"\(N, 72, 72, 3\)"):
        night.canvas(np.zeros((1, 64, 64, 3), np.uint8), np.array([1.0]))
    with pytest.raises(ValueError, match="daylight >= 0.5"):
        night.canvas(np.zeros((1, 72, 72, 3), np.uint8), np.array([0.3]))
    with pytest.raises(ValueError, match=r"canvas must be \(1, 56, 72, 3\)"):
        night.render(np.zeros((1, 72, 72, 3), np.uint8), np.zeros((1, 72, 72, 3), np.float32), np.array([0.2]),
                     np.array([False]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="do not fit"):
        CrafterNight(size=(4, 4), view=(9, 9))


def test_a_vae_trains_on_night_pairs(tmp_path):
    from collect import CollectConfig, collect
    from train_vae import TrainVAEConfig, train

    from model.vae import VAEConfig, VideoVAE

    data = tmp_path / "rec"
    # 300 steps reach the night (Crafter's day is 300 steps)
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=3, workers=1, max_steps=300,
                          area=(32, 32), size=(72, 72)), progress=False)
    tiny = VAEConfig(latent_channels=4, channels=(8, 16, 16))
    base = VideoVAE(tiny)
    base.latent_scale.fill_(2.0)
    base.save(tmp_path / "base.safetensors")
    final = train(TrainVAEConfig(data=str(data), out=str(tmp_path / "run"), steps=4, batch_size=8, progress=False,
                                 init=str(tmp_path / "base.safetensors"), night_pairs=0.5, keep_latent_stats=True))
    tuned = VideoVAE.load(final)
    assert torch_equal(tuned.latent_scale, base.latent_scale)  # kept: latents stay in the init's range
    assert not torch_equal(tuned.encoder_state(), base.encoder_state())  # the encoder trained too
    with pytest.raises(SystemExit, match="single frames"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, night_pairs=0.5, progress=False,
                             vae=VAEConfig(latent_channels=4, channels=(8, 16, 16), temporal_factor=2)))
    with pytest.raises(SystemExit, match=r"in \[0, 1\)"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, night_pairs=1.5, progress=False))
    with pytest.raises(SystemExit, match="give --init"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, keep_latent_stats=True,
                             progress=False))
    # the loss on the undarkened canvas: factors from the frames' own daylight, capped, 1 off the view
    from train_vae import CanvasWeights

    from model.data import FrameBank

    bank = FrameBank(data, light=True, tiles=True)
    bank.daylight[:2], bank.sleeping[:3] = (0.0, 1.0), (False, False, True)  # a deep night, a day, a sleeper
    deep, day = 0, 1
    f = CanvasWeights(bank, 16)(np.array([deep, day, 2]))
    assert f.shape == (3, 1, 3, 72, 72)
    assert f[0].max() == 16 and np.allclose(f[0, 0, :, 56:], 1) and f[0, 0, 0, 28, 36] < 2.5
    assert np.allclose(f[1], 1)
    assert np.allclose(f[2, 0, 1:], 1) and f[2, 0, 0, :56].min() >= 2  # asleep: colour gone, grey halved
    # (training with it: tests/test_crafter_replay.py, on a grain-free copy) against grainy targets it
    # would weigh up the grain itself
    with pytest.raises(SystemExit, match="needs --target-data"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, night_contrast=16, progress=False))
    with pytest.raises(SystemExit, match="cap >= 1"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, night_contrast=0.5, progress=False))


def torch_equal(a, b) -> bool:
    import torch

    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)
