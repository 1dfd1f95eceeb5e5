"""Crafter's night re-rendered from day frames, checked against the game's own renderer."""

from contextlib import contextmanager

import numpy as np
import pytest
from crafter import engine

from worldenv.games.crafter.env import CrafterEnv
from worldenv.games.crafter.night import CrafterNight
from worldenv.games.crafter.parse import NOISE_RANGE, CrafterFrameParser


@contextmanager
def grain_at_mean():
    """Inside this block crafter draws its night grain at its mean (the random draw still happens,
    so the world's random stream is unchanged): the game's own deterministic night."""
    original = engine.LocalView._noise

    def noise_at_mean(self, canvas, amount, stddev):
        self._world.random.uniform(*NOISE_RANGE, canvas.shape[:2])
        mask = amount * self._vignette(canvas.shape, stddev)[..., None]
        return (1 - mask) * canvas + mask * (sum(NOISE_RANGE) / 2)

    engine.LocalView._noise = noise_at_mean
    try:
        yield
    finally:
        engine.LocalView._noise = original


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
