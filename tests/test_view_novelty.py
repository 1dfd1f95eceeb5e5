"""The share of the view at horizon k that the start clip showed (`evaluation.places`, `evaluation.novelty`)."""

import numpy as np
import pytest

from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.evaluation import novelty as view_novelty


def _walk(steps: int, dx: int):
    """A 20x20 world of distinct tiles (grass on the left half) and the 3x5 views of a player walking
    `dx` tiles a step along row 10 from x = 8: (tiles (T, 3, 5), positions (T, 2))."""
    world = np.arange(400).reshape(20, 20) + 100  # [y, x]
    world[:, :10] = 2
    pos = np.array([(8 + dx * t, 10) for t in range(steps)])
    tiles = np.array([world[y - 1 : y + 2, x - 2 : x + 3] for x, y in pos])
    return tiles, pos


def _novelty(tiles, pos, context, horizon):
    return view_novelty.novelty_shares(*view_novelty.prompt_places(tiles, pos, context, horizon),
                                       tiles[context + horizon - 1])


def test_the_nearest_seen_tile_guesses_unseen_terrain_that_goes_on():
    """Walking right along a band of water (row 0 of the view) and grass: the unseen columns hold
    what the nearest seen column held in the band's row, so the nearest guess is right there."""
    world = np.full((20, 20), 2)
    world[9, :] = 1  # water along the row above the player
    world[11, 15:] = 6  # trees where the clip never looked
    pos = np.array([(8 + t, 10) for t in range(6)])
    tiles = np.array([world[y - 1 : y + 2, x - 2 : x + 3] for x, y in pos])
    # the clip saw x 6..11; the scored view (x = 12) shows x 10..14: columns 2..4 unseen
    seen, same, nearest = view_novelty.prompt_places(tiles, pos, 2, 3)
    assert seen[:, :2].all() and not seen[:, 2:].any() and same[:, :2].all()
    assert nearest[0, 2:].all() and nearest[1, 2:].all()  # water goes on; the player's row: grass goes on
    assert nearest[2, 2:].all() and not nearest[:, :2].any()  # no tree yet at x 12..14; seen tiles are not guesses
    tiles5 = tiles.copy()
    tiles5[4, 2, 2:] = 6  # a row of trees right there instead
    _, _, nearest5 = view_novelty.prompt_places(tiles5, pos, 2, 3)
    assert not nearest5[2, 2:].any() and nearest5[:2, 2:].all()
    shares = view_novelty.novelty_shares(seen, same, nearest5, tiles5[4])
    assert shares["unseen_nearest"] == pytest.approx(6 / 15) and shares["unseen_grass"] == pytest.approx(3 / 15)


def test_a_walk_brings_in_one_unseen_column_a_step():
    tiles, pos = _walk(6, 1)
    # context 2 frames (x = 8, 9): at horizon h the view (x = 9 + h) shows h columns never seen
    for h in (1, 2, 3):
        r = _novelty(tiles, pos, 2, h)
        assert r["seen"] == pytest.approx((5 - h) / 5) and r["seen_same"] == pytest.approx(r["seen"])
        assert r["unseen_grass"] == 0  # the right half holds no grass
    # walking left into the grass half: the unseen columns are grass
    tiles, pos = _walk(6, -1)
    r = _novelty(tiles, pos, 2, 3)
    assert r["seen"] == pytest.approx(2 / 5) and r["unseen_grass"] == pytest.approx(3 / 5)
    # a tile that changed since the context saw it is seen, not the same
    tiles, pos = _walk(4, 1)
    tiles[2, 1, 1] = 7
    r = _novelty(tiles, pos, 2, 1)
    assert r["seen"] == pytest.approx(4 / 5) and r["seen_same"] == pytest.approx(4 / 5 - 1 / 15)


def test_history_counts_as_seen_and_recordings_without_tiles_are_refused(tmp_path):
    data = tmp_path / "rec"
    collect(CollectConfig(episodes=2, policy="explore", out=str(data), seed=2, workers=1, max_steps=60,
                          area=(32, 32), size=(64, 64)), progress=False)
    out = tmp_path / "novelty.json"
    short = view_novelty.main(["--data", str(data), "--horizons", "1", "8", "--starts", "4", "--context", "3",
                               "--out", str(out)])
    long = view_novelty.main(["--data", str(data), "--horizons", "1", "8", "--starts", "4", "--context", "3",
                              "--history", "40"])
    assert out.exists() and set(short["horizons"]) == {"1", "8"}
    for h in ("1", "8"):
        s, lg = short["horizons"][h], long["horizons"][h]
        assert 0 <= s["seen_same"] <= s["seen"] <= lg["seen"] <= 1
        assert s["keep_seen_draw_grass"] == pytest.approx(s["seen_same"] + s["unseen_grass"])
        assert s["unseen_nearest"] <= 1 - s["seen"] + 1e-9
    fitted = view_novelty.main(["--data", str(data), "--horizons", "8", "--starts", "4", "--context", "3",
                                "--fit-data", str(data), "--fit-starts", "4"])["horizons"]["8"]
    assert 0 <= fitted["unseen_learned"] <= fitted["unseen_share"] + 1e-9
    assert 0 <= fitted["unseen_learned_draw"] <= fitted["unseen_share"] + 1e-9
    assert fitted["keep_seen_draw_learned"] == pytest.approx(fitted["seen_same"] + fitted["unseen_learned"])
    jsonl = next(data.glob("*.jsonl"))
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(line.replace('"tiles"', '"tiles_"') for line in lines) + "\n")
    with pytest.raises(ValueError, match="without 'tiles' and 'player_pos'"):
        view_novelty.main(["--data", str(data), "--horizons", "1", "--starts", "4", "--context", "3"])


def test_unseen_features_and_a_fitted_guess_of_unseen_terrain():
    """Walking right into the right half of `_walk`'s world: every unseen column is new terrain; its
    nearest seen tile is the seen column next to it. A guess fitted on water bands predicts water
    from a nearest seen water tile, and draws are right with the fitted probability."""
    world = np.full((20, 20), 2)
    world[9, :] = 1  # water along the row above the player
    pos = np.array([(8 + t, 10) for t in range(6)])
    tiles = np.array([world[y - 1 : y + 2, x - 2 : x + 3] for x, y in pos])
    f = view_novelty.unseen_features(tiles, pos, 2, 3)
    assert f.shape == (9, 4)  # 3 unseen columns of 3 rows
    assert (f[:, 0] == f[:, 3]).all()  # the nearest seen tile holds what the band holds
    assert set(f[:, 1].tolist()) == {0, 1, 2}  # distances 1, 2 and 3
    guess = view_novelty.UnseenTerrainGuess(min_count=1).fit(np.concatenate([f] * 5))
    best, draw = guess.score(f)
    assert best.all() and np.allclose(draw, 1)
    # half the fitted water rows continue as sand: draws are right half the time there, and the
    # best guess is right on the first of the ties
    sand = f.copy()
    sand[f[:, 0] == 1, 3] = 4
    guess = view_novelty.UnseenTerrainGuess(min_count=1).fit(np.concatenate([f, sand]))
    best, draw = guess.score(sand)
    water = f[:, 0] == 1
    assert np.allclose(draw[water], 0.5) and np.allclose(draw[~water], 1)
    assert not best[water].any() and best[~water].all()  # the tie goes to the lower id, water, not sand
    # every id the tables hold, at both ends (none seen around, the highest id), fits and is scored
    edge = np.array([[-1, 0, -2, 38], [38, 5, 38, -1], [38, 5, -2, 0]])
    assert view_novelty.UnseenTerrainGuess(min_count=1).fit(edge).score(edge)[0].all()
    with pytest.raises(ValueError, match="tile ids"):
        view_novelty.UnseenTerrainGuess().fit(edge + [[0, 0, 0, 1]] * 3)
    with pytest.raises(RuntimeError, match="fit"):
        view_novelty.UnseenTerrainGuess().probs(f)
    with pytest.raises(ValueError, match="no unseen"):
        view_novelty.UnseenTerrainGuess().fit(f[:0])
