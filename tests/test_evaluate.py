"""The Crafter world evaluation (`soraworld-evaluate`) runs end to end on a tiny world and any
collector-format folder."""

import json

import numpy as np
import pytest
import torch

from model.latents import uncovered_cells
from model.recordings import draw_windows
from model.rollout import WorldModel
from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.env import PLAYER_MOVES
from worldenv.games.crafter.evaluation import dreams, events, run
from worldenv.games.crafter.evaluation.context import context_use
from worldenv.games.crafter.evaluation.controllability import controllability, move_visible, view_shift
from worldenv.games.crafter.evaluation.dreams import load_starts, start_dreams
from worldenv.games.crafter.evaluation.fidelity import class_shares
from worldenv.games.crafter.evaluation.stability import tile_kinds
from worldenv.games.crafter.evaluation.strips import fresh_strips


def test_tile_kinds_counts_distinct_classes_per_view():
    views = np.full((2, 7, 9), 2)
    views[1, 0, 0], views[1, 1, 1] = 6, 7
    assert tile_kinds(views) == pytest.approx((1 + 3) / 2)


def test_a_step_in_a_uniform_field_is_not_visible():
    grass = np.full((7, 9), 2)
    assert not any(move_visible(grass, dx, dy) for dx, dy in PLAYER_MOVES.values())
    tree = grass.copy()
    tree[1, 1] = 6
    assert all(move_visible(tree, dx, dy) for dx, dy in PLAYER_MOVES.values())
    # a field uniform along a step's direction: a vertical stripe is unchanged by steps up and down
    stripe = grass.copy()
    stripe[:, 1] = 6
    assert not move_visible(stripe, 0, 1) and move_visible(stripe, 1, 0)
    # the player's own tile, before and after, does not count
    player = grass.copy()
    player[3, 4] = 13
    assert not move_visible(player, 1, 0)


def test_view_shift_recovers_moves():
    rng = np.random.default_rng(0)
    world = rng.integers(1, 12, (20, 20))
    before = world[5:12, 5:14]
    for (dx, dy) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]:
        after = world[5 + dy : 12 + dy, 5 + dx : 14 + dx]
        assert view_shift(before, after) == (dx, dy)


def test_the_strip_a_step_brings_in_is_the_edge_it_walks_toward():
    """fresh_strips reads the new strip of a step (dx, dy) as the cells uncovered by shifting the
    view's content the other way (`uncovered_cells(..., -dx, -dy)`)."""
    for (dx, dy), (rows, cols) in (((1, 0), (slice(None), 8)), ((-1, 0), (slice(None), 0)),
                                   ((0, 1), (6, slice(None))), ((0, -1), (0, slice(None)))):
        cells = uncovered_cells(7, 9, -dx, -dy).numpy()
        assert cells[rows, cols].all() and cells.sum() == (7 if dx else 9)


def test_fresh_strips_compares_the_strip_of_the_moves_the_game_carried_out(tiny_world, tmp_path, monkeypatch):
    """A dream that draws the real next frame scores the game's shares and tile accuracy 1 on the
    strips; one that keeps the last frame draws the old edge instead; only moves whose real view
    shifted count."""
    data = tmp_path / "rec"
    collect(CollectConfig(episodes=2, policy="random", out=str(data), seed=4, workers=1, max_steps=40,
                          area=(32, 32), size=(64, 64)), progress=False)
    clips, acts, _, _ = load_starts(str(data), 5, 1, 48, 0, per_episode=24)
    from worldenv.games.crafter.parse import CrafterFrameParser

    parser = CrafterFrameParser(size=(64, 64), view=(9, 9))

    class Dream:  # a DreamRollout that shows clip frame `show` of each clip
        show = 5

        def __init__(self, world, batch, **kw):
            pass

        def reset(self, frames, actions):
            pass

        def step(self, actions):
            return type("Step", (), {"frames": clips[:, Dream.show]})

    monkeypatch.setattr(dreams, "DreamRollout", Dream)
    tiles = parser.parse(clips[:, 4 : 6].reshape(-1, 64, 64, 3)).tiles.reshape(len(clips), 2, 7, 9)
    carried = [i for i in range(len(clips)) if PLAYER_MOVES.get(int(acts[i, 5, 0])) is not None
               and view_shift(tiles[i, 0], tiles[i, 1]) == PLAYER_MOVES[int(acts[i, 5, 0])]]
    assert carried  # the random player walked somewhere in these clips
    world = WorldModel.load(tiny_world)  # only its game is read: the dream is the stand-in above
    right = fresh_strips(world, parser, clips, acts, 5, 1, 0)
    assert right["moves"] == len(carried) and right["tile_accuracy"] == 1.0
    assert all(v["real"] == v["dream"] for v in right["share"].values())
    Dream.show = 4
    still = fresh_strips(world, parser, clips, acts, 5, 1, 0)
    assert still["moves"] == len(carried) and still["tile_accuracy"] < 1


def test_evaluate_end_to_end(tiny_world, tmp_path):
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=2, policy="random", out=str(data), seed=3, workers=1, max_steps=30,
                          area=(32, 32), size=(64, 64)), progress=False)
    r = run.main(["--model", str(tiny_world), "--data", str(data), "--out", str(tmp_path / "eval"),
                       "--starts", "2", "--horizons", "1", "4", "--stability-steps", "6", "--every", "3",
                       "--reward-frames", "20", "--rules", "inventory", "daylight", "--fresh-windows", "64"])
    saved = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert saved["rules"] == ["inventory", "daylight"]
    assert set(saved["fidelity"]) == {"1", "4"} and 0 <= saved["fidelity"]["4"]["tile_accuracy"] <= 1
    assert all(0 <= saved["fidelity"][h]["repeat_last"]["tile_accuracy"] <= 1 for h in ("1", "4"))
    assert [p["step"] for p in saved["stability"]] == [0, 3, 6]
    assert all(1 <= p["tile_kinds"] <= 63 for p in saved["stability"]) and saved["real_tile_kinds"] >= 1
    assert 0 <= r["controllability"]["move_accuracy"] <= 1
    assert sum(r["controllability"]["outcomes"].values()) == r["controllability"]["cases"]
    # every start tries all 4 moves: each is either a walkable case or a blocked one
    c = r["controllability"]
    assert c["cases"] + c["blocked_cases"] + c["ambiguous"] == 4 * 2
    assert 0 <= r["controllability"]["blocked_still"] <= 1
    # the horizon-1 split by action kind recombines into the overall horizon-1 numbers
    after = saved["fidelity"]["1"]["tile_accuracy_after"]
    assert sum(m["frames"] for m in after.values()) == 2
    for key, overall in (("model", saved["fidelity"]["1"]["tile_accuracy"]),
                         ("repeat_last", saved["fidelity"]["1"]["repeat_last"]["tile_accuracy"])):
        assert sum(m[key] * m["frames"] for m in after.values()) / 2 == pytest.approx(overall)
        crossed = saved["fidelity"]["1"]["tile_accuracy_after_by_light"]
        assert sum(m["frames"] for m in crossed.values()) == 2
        want = saved["fidelity"]["1"]["tile_accuracy"] if key == "model" else \
            saved["fidelity"]["1"]["repeat_last"]["tile_accuracy"]
        assert sum(m[key] * m["frames"] for m in crossed.values()) / 2 == pytest.approx(want)
        for h in ("1", "4"):  # so does the split by daylight, at every horizon
            light = saved["fidelity"][h]["tile_accuracy_by_light"]
            assert sum(m["frames"] for m in light.values()) == 2
            f = saved["fidelity"][h]
            want = f["tile_accuracy"] if key == "model" else f["repeat_last"]["tile_accuracy"]
            assert sum(m[key] * m["frames"] for m in light.values()) / 2 == pytest.approx(want)
    for h in ("1", "4"):  # the views' class shares at each horizon sum to 1 on each side
        for side in ("real", "dream"):
            assert sum(v[side] for v in saved["fidelity"][h]["view_class_share"].values()) == pytest.approx(1.0)
    assert class_shares(np.array([2, 2, 6, 6]), np.array([2, 2, 2, 0])) == {
        "void": {"real": 0.0, "dream": 0.25}, "grass": {"real": 0.5, "dream": 0.75}, "tree": {"real": 0.5, "dream": 0.0}}
    fs = saved["fresh_strips"]
    assert 0 < fs["moves"] <= 64 and 7 * fs["moves"] <= fs["tiles"] <= 9 * fs["moves"]
    for side in ("real", "dream"):  # each side's class shares over the strip's tiles sum to 1
        assert sum(v[side] for v in fs["share"].values()) == pytest.approx(1.0)
    cu = r["context_use"]
    assert cu["windows"] >= 2 and cu["model_mse"]["all"] > 0 and cu["repeat_last_mse"]["all"] >= 0
    # a context-use estimate that repeats the last latent exactly scores what the baseline scores
    clips, acts, asleep, _ = load_starts(str(data), 5, 1, 4, 0, per_episode=2)
    assert len(clips) == 4 and clips.shape[1] == 6 and asleep.shape == (4,) and asleep.dtype == bool
    # the game ignores moves in sleep: every move from a sleeping start counts as one it refuses
    from worldenv.games.crafter.parse import CrafterFrameParser

    world = WorldModel.load(tiny_world)
    parser = CrafterFrameParser(size=(64, 64), view=(9, 9))
    awake = controllability(world, parser, clips, acts, 5, 1, 0, asleep=np.zeros(4, bool))
    slept = controllability(world, parser, clips, acts, 5, 1, 0, asleep=np.ones(4, bool))
    assert awake["cases"] + awake["blocked_cases"] == slept["blocked_cases"] == 16 - slept["ambiguous"]
    assert slept["cases"] == 0 and awake["ambiguous"] == slept["ambiguous"]
    assert slept["blocked_by_cause"]["asleep"]["cases"] == slept["blocked_cases"]
    assert awake["blocked_by_cause"]["asleep"]["cases"] == 0
    assert awake["blocked_by_cause"]["terrain"]["cases"] == awake["blocked_cases"]
    # with the ledger (as SoraWorld-v0 plays), the same checks run; start_dreams gives every scored
    # dream the rules asked for
    ruled = controllability(world, parser, clips, acts, 5, 1, 0, asleep=np.zeros(4, bool),
                                     rules=("inventory",))
    assert ruled["cases"] == awake["cases"] and ruled["blocked_cases"] == awake["blocked_cases"]
    from worldenv.games.crafter.daylight import CrafterClock
    from worldenv.games.crafter.ledger import InventoryLedger

    ledger = start_dreams(world, clips, acts, 5, 1, 0, rules=("inventory", "terrain", "daylight")).rules
    assert isinstance(ledger, InventoryLedger) and ledger.terrain is not None and ledger.clock is not None
    assert isinstance(start_dreams(world, clips, acts, 5, 1, 0, rules=("daylight",)).rules, CrafterClock)
    assert start_dreams(world, clips, acts, 5, 1, 0).rules is None

    class Repeat(torch.nn.Module):  # v such that z - sigma * v is the previous latent
        def forward(self, z, sigma, actions):
            return (z - torch.cat([z[:, :1], z[:, :-1]], 1)) / sigma.clamp_min(1e-6)[..., None, None, None], None

    world = WorldModel.load(tiny_world)
    world.dit = Repeat()
    rep = context_use(world, clips, acts, 5, seed=0)
    assert rep["model_mse"]["all"] == pytest.approx(rep["repeat_last_mse"]["all"], rel=1e-5)
    assert (tmp_path / "eval" / "filmstrip.png").stat().st_size > 0
    import av

    with av.open(str(tmp_path / "eval" / "real_vs_dream.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4


def test_evaluate_events_finds_real_gains_and_dreams_them(tiny_world, tmp_path):
    from model.recordings import read_jsonl

    data = tmp_path / "explore"
    collect(CollectConfig(episodes=2, policy="explore", out=str(data), seed=1, workers=1, max_steps=80,
                          area=(32, 32), size=(64, 64)), progress=False)
    moments = events.find_moments(data, ["wood", "sapling"], 4, 3, seed=0)
    assert moments["wood"]["events"], "the explore policy collects wood within 80 steps"
    for item, m in moments.items():
        for (name, t), (other, u) in zip(m["events"], m["non_events"], strict=True):
            recs, others = read_jsonl(data / f"{name}.jsonl"), read_jsonl(data / f"{other}.jsonl")
            assert recs[t]["inventory"][item] > recs[t - 1]["inventory"][item]  # a real gain
            assert others[u]["inventory"][item] <= others[u - 1]["inventory"][item]  # a real non-gain
            assert others[u - 1]["action"] == recs[t - 1]["action"]  # after the same action
    # With a "dream" that returns the real next frame, every event is a hit and no non-event rises:
    # the context, the action and the parser line up with the recordings.
    from model.data import actions_into_frames, episode_arrays

    class RealNextFrame:
        def __init__(self, world, batch, **kw):
            self.batch = batch

        def reset(self, frames, actions):
            self.frames, self.actions = frames, actions

        def step(self, action):
            for name in episodes:
                ep = episodes[name]
                for t in range(k, len(ep.frames)):
                    if np.array_equal(ep.frames[t - k:t], self.frames[0]):
                        assert np.array_equal(actions_into_frames(ep.actions)[t - k:t], self.actions[0])
                        assert np.array_equal(action[0], actions_into_frames(ep.actions)[t])
                        return type("Step", (), {"frames": np.repeat(ep.frames[t][None], self.batch, 0)})
            raise AssertionError("context not found in the recordings")

    from model.recordings import list_episodes
    from model.rollout import WorldModel

    world = WorldModel.load(tiny_world)
    k = world.dit.cfg.window - 1
    episodes = {e.name: episode_arrays(data, e.name) for e in list_episodes(data)}
    parser = events.CrafterFrameParser(size=(64, 64))
    moments = events.find_moments(data, ["wood"], k, 3, seed=0)
    real = events.DreamRollout
    events.DreamRollout = RealNextFrame
    try:
        hit = events.dreamed_rise_rate(world, data, moments["wood"]["events"], "wood", parser, 2, 1, None,
                                                0, {})
        false = events.dreamed_rise_rate(world, data, moments["wood"]["non_events"], "wood", parser, 2, 1,
                                                  None, 0, {})
    finally:
        events.DreamRollout = real
    assert (hit, false) == (1.0, 0.0)

    r = events.main(["--model", str(tiny_world), "--data", str(data), "--items", "wood", "--cases", "2",
                              "--samples", "2", "--out", str(tmp_path / "ev"), "--guidance", "1", "2"])
    saved = json.loads((tmp_path / "ev" / "events.json").read_text())
    assert saved == json.loads(json.dumps(r))
    assert [(row["item"], row["guidance"]) for row in saved["rows"]] == [("wood", 1.0), ("wood", 2.0)]
    assert all(0 <= row["hit_rate"] <= 1 and 0 <= row["false_rate"] <= 1 for row in saved["rows"])
    # Keeping the items by the game's rules, even an untrained world gives wood exactly when the game does:
    # the rules read the real frame before the dreamed one.
    r = events.main(["--model", str(tiny_world), "--data", str(data), "--items", "wood", "--cases", "2",
                              "--samples", "2", "--out", str(tmp_path / "ev2"), "--keep-inventory"])
    assert r["keep_inventory"] and [(row["hit_rate"], row["false_rate"]) for row in r["rows"]] == [(1.0, 0.0)]
    with pytest.raises(SystemExit, match="unknown items"):
        events.main(["--model", str(tiny_world), "--data", str(data), "--items", "wool"])


def test_prompts_with_history_end_with_the_clip_and_reach_the_game_rules(tiny_world, tmp_path):
    """--history: each clip's prompt is the episode's frames before it (up to N) and its context; the
    DiT's clips are the same as without it; the dream is scored with the ledger's memory of it, and
    a history with no game rules to give it to is refused."""
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=2, policy="random", out=str(data), seed=3, workers=1, max_steps=30,
                          area=(32, 32), size=(64, 64)), progress=False)
    clips, acts, asleep, no_prompts = load_starts(str(data), 5, 1, 4, 0, per_episode=2)
    h_clips, h_acts, h_asleep, prompts = load_starts(str(data), 5, 1, 4, 0, per_episode=2, history=8)
    assert no_prompts is None and len(prompts) == 4
    assert np.array_equal(clips, h_clips) and np.array_equal(acts, h_acts) and np.array_equal(asleep, h_asleep)
    drawn = draw_windows(str(data), 5 + 1, 4, 0, per_episode=2)
    starts = [s for _, s in drawn]
    import shutil

    bare = tmp_path / "no_index"  # a folder without index.json (VPT downloads): lengths from the jsonl
    shutil.copytree(data, bare)
    (bare / "index.json").unlink()
    assert [(i.name, s) for i, s in draw_windows(str(bare), 6, 4, 0, per_episode=2)] == \
        [(i.name, s) for i, s in drawn]
    assert len(prompts) == 4 and any(s > 0 for s in starts)
    for (frames, actions), clip, act, s in zip(prompts, clips, acts, starts, strict=True):
        assert len(frames) == len(actions) == min(8, s) + 5
        assert np.array_equal(frames[-5:], clip[:5]) and np.array_equal(actions[-5:], act[:5])
    out = tmp_path / "eval"
    run.main(["--model", str(tiny_world), "--data", str(data), "--out", str(out), "--starts", "4",
                   "--horizons", "1", "2", "--stability-steps", "0", "--reward-frames", "0", "--fresh-windows", "0",
                   "--rules", "game", "--history", "8"])
    saved = json.loads((out / "eval.json").read_text())
    assert saved["rules"] == ["inventory", "terrain", "daylight"] and saved["history"] == 8
    for f in saved["fidelity"].values():  # split by whether the prompt showed the place, it recombines
        place = f["tile_accuracy_by_place"]
        assert place["seen"]["share"] + place["unseen"]["share"] == pytest.approx(1.0)
        assert place["seen"]["share"] > 0.5  # one or two steps from a prompt of 5 frames or more
        assert sum(v["share"] * (v["model"] or 0) for v in place.values()) == pytest.approx(f["tile_accuracy"])
    with pytest.raises(ValueError, match="history frames are given to the game's rules"):
        run.main(["--model", str(tiny_world), "--data", str(data), "--out", str(out), "--starts", "2",
                       "--horizons", "1", "--stability-steps", "0", "--reward-frames", "0", "--fresh-windows", "0",
                       "--history", "8", "--rules", "inventory"])
