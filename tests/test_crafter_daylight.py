"""The Crafter clock: day looks of real frames, the clock read off a clip, night shown by the game's rule."""

import numpy as np
import pytest

from worldenv.games.crafter.daylight import DAY_LENGTH, CrafterClock, daylight_at
from worldenv.games.crafter.env import CrafterEnv
from worldenv.games.crafter.parse import CrafterFrameParser


@pytest.fixture(scope="module")
def episode():
    """A real 72x72 random-policy episode long enough to hold a dusk, a night and a dawn."""
    env = CrafterEnv(size=(72, 72), length=420)
    obs, info = env.reset(seed=3)
    frames, light, steps, asleep = [obs], [info["daylight"]], [info["step"]], [info["sleeping"]]
    rng = np.random.default_rng(0)
    player = env._env._player
    for _ in range(400):
        for need in ("health", "food", "drink", "energy"):  # keep the player alive and awake all day
            player.inventory[need] = 9
        obs, _, term, trunc, info = env.step(int(rng.choice([0, 1, 2, 3, 4, 5])))
        frames.append(obs)
        light.append(info["daylight"])
        steps.append(info["step"])
        asleep.append(info["sleeping"])
        if term or trunc:
            break
    return np.stack(frames), np.array(light), np.array(steps), np.array(asleep)


def test_daylight_follows_the_games_clock(episode):
    _, light, steps, _ = episode
    assert len(steps) > 300  # a whole day
    np.testing.assert_allclose(daylight_at(steps), light, atol=1e-6)


def test_day_frames_read_as_the_game_by_day_and_night(episode):
    frames, light, _, asleep = episode
    clock = CrafterClock(1, size=(72, 72))
    parser = CrafterFrameParser(size=(72, 72))
    night = (light < 0.5) & ~asleep
    dusk = (light >= 0.5) & (light < 0.9) & ~asleep
    assert night.sum() > 20 and dusk.sum() > 20
    for rows in (night, dusk):
        day = clock.day_frames(frames[rows])
        got = parser.parse(day)
        assert got.daylight.min() > 0.95  # day looks: no darkening left
        # the same tiles as the game's own frames read
        assert (got.tiles == parser.parse(frames[rows]).tiles).mean() > 0.97
        assert np.array_equal(day[:, 56:], frames[rows][:, 56:])  # the inventory is never darkened
    # above daylight 0.5 the darkening is inverted, not redrawn: the view stays the game's pixels
    # darkened back within rounding, so showing the day look at the same daylight gives the frame back
    clock.steps[:] = 0
    i = int(np.flatnonzero(dusk)[0])
    clock.steps[0] = episode[2][i] % DAY_LENGTH
    again = clock.show(clock.day_frames(frames[i : i + 1]))
    assert np.abs(again.astype(int) - frames[i : i + 1].astype(int)).max() <= 3
    # a batch of clips (b, k, H, W, 3) keeps its shape
    assert clock.day_frames(frames[:6].reshape(2, 3, 72, 72, 3)).shape == (2, 3, 72, 72, 3)


def test_the_clock_is_read_off_a_clip(episode):
    frames, light, steps, _ = episode
    clock = CrafterClock(4, size=(72, 72))
    k = 7
    ends = [40, 150, 220, 280]  # noon, dusk, night, dawn (the clip's last frame)
    clock.start(range(4), np.stack([frames[e - k + 1 : e + 1] for e in ends]))
    for i, e in enumerate(ends):
        # the daylight of the next 100 steps follows the game's (the bright noon is flat: its
        # step is known only roughly, which the daylight hardly shows)
        ahead = np.arange(1, 101)
        err = np.abs(daylight_at(clock.steps[i] + ahead) - light[e + ahead if e + 100 < len(light) else e])
        assert err.max() < 0.1, (e, clock.steps[i], steps[e])


def test_the_clock_shows_the_night_with_grain_and_ticks():
    clock = CrafterClock(2, size=(72, 72), seed=1)
    day = np.full((2, 72, 72, 3), 90, np.uint8)
    clock.steps[:] = [60, 180]  # noon and deep night
    shown = clock.show(day)
    assert np.abs(shown[0].astype(int) - 90).max() <= 1  # noon is the day look
    assert shown[1, :56].mean() < 70 and shown[1, :56].std() > 2  # night: darker, grainy
    assert np.array_equal(shown[1, 56:], day[1, 56:])
    clock.tick()
    assert clock.steps.tolist() == [61, 181]
    clock.steps[:] = DAY_LENGTH - 1
    clock.tick()
    assert clock.steps.tolist() == [0, 0]
    with pytest.raises(ValueError, match="seeds"):
        clock.reset([0, 1], np.zeros((2, 3, 72, 72, 3), np.uint8), seeds=[1])


def test_a_reseeded_dream_draws_the_same_grain_again():
    clock = CrafterClock(2, size=(72, 72), seed=1)
    day = np.full((2, 72, 72, 3), 90, np.uint8)
    clips = np.repeat(day[:, None], 3, axis=1)

    def night_after_reset(seeds):
        clock.reset([1], clips[1:], seeds=seeds)
        clock.steps[:] = 180  # deep night: the grain is drawn
        return clock.show(day)

    first, again = night_after_reset([7]), night_after_reset([7])
    assert np.array_equal(first[1], again[1])  # the reseeded dream repeats its grain
    assert not np.array_equal(first[0], again[0])  # the other dream's stream went on
    assert not np.array_equal(night_after_reset([8])[1], first[1])
