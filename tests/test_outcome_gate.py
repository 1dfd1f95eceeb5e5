"""Outcomes of attempts: the labels read from recordings, the DiT's outcome token, the OutcomeGate,
train_move_gate.py --judge attempts, train_world.py --outcomes, and dreams that draw outcomes."""

import json

import numpy as np
import pytest
import torch
from conftest import write_records
from ship_world import ship
from train_move_gate import TrainGateConfig, move_samples
from train_move_gate import train as train_gate
from train_world import parse_args as world_args
from train_world import train as train_world

from model.checkpoint import CheckpointError
from model.dit import DiTConfig, KVCache, SpacetimeDiT
from model.latent_cache import OUTCOME_DONE, OUTCOME_FAILED, OUTCOME_NONE, LatentCache, outcome_labels
from model.move_gate import MoveGateConfig
from model.outcome_gate import OutcomeGate
from model.rollout import DreamRollout, WorldModel

ATTEMPTS = tuple(range(5, 17))  # Crafter: do, sleep, place_*, make_*


def _inv(**kw):
    base = dict(health=9, food=9, drink=9, energy=9, sapling=0, wood=0, wood_pickaxe=0)
    return {**base, **kw}


def test_outcome_labels_on_written_records(tmp_path):
    """Frame t's label judges record t-1's action by what changed from record t-1 to t."""
    episodes = {
        "a": [
            (5, _inv(), False),  # first frame: nothing led to it
            (5, _inv(wood=1), False),  # do -> wood: done
            (5, _inv(wood=1), False),  # do -> nothing: failed
            (11, _inv(wood=1, food=8, drink=7), False),  # do -> only hunger and thirst: failed
            (8, _inv(wood=1, wood_pickaxe=1, food=8, drink=7), False),  # make -> pickaxe: done
            (6, _inv(wood=0, wood_pickaxe=1, food=8, drink=7), False),  # place table -> wood spent: done
            (6, _inv(wood=0, wood_pickaxe=1, food=8, drink=7, energy=8), True),  # sleep -> asleep: done
            (1, _inv(wood=0, wood_pickaxe=1, food=8, drink=7, energy=9), True),  # sleep, already asleep: failed
            (5, _inv(wood=0, wood_pickaxe=1, food=8, drink=7, energy=9), True),  # a move: not judged
            (None, _inv(wood=0, wood_pickaxe=1, food=8, drink=8, energy=9), True),  # do -> drink: done
        ],
        "b": [(5, _inv(), False), (0, None, False), (5, _inv(), False)],  # no inventory: failed; noop: none
    }
    write_records(tmp_path, {name: [{"action": a, "sleeping": s, **({"inventory": inv} if inv is not None else {})}
                                    for a, inv, s in recs] for name, recs in episodes.items()})

    class Cache:  # what outcome_labels reads of a latent cache
        episode_lengths = torch.tensor([10, 3])
        meta = {"data": str(tmp_path)}

        def __len__(self):
            return 13

    N, F, D = OUTCOME_NONE, OUTCOME_FAILED, OUTCOME_DONE
    got = outcome_labels(Cache(), ATTEMPTS, sleep_action=6).tolist()
    assert got == [N, D, F, F, D, D, D, F, N, D, N, F, N]
    # without a sleep action, falling asleep is judged by the inventory (unchanged there: failed)
    assert outcome_labels(Cache(), ATTEMPTS).tolist()[6] == F


def tiny(**kw):
    """A tiny DiT with outcome tokens; every weight but the (zero-initialised) outcome embedding is
    perturbed, so zero-initialised layers do not hide what the outcome does."""
    torch.manual_seed(0)
    cfg = dict(latent_channels=4, patch=2, dim=32, depth=2, heads=2, window=6, outcomes=True)
    m = SpacetimeDiT(DiTConfig(**{**cfg, **kw})).eval()
    for name, p in m.named_parameters():
        if not name.startswith("outcome_embed"):
            p.data += 0.05 * torch.randn_like(p)
    return m


def test_outcome_token_starts_at_zero_then_conditions_and_is_checked():
    m = tiny()
    z, sigma = torch.randn(2, 3, 4, 8, 8), torch.full((2, 3), 0.5)
    a = torch.tensor([[[5], [5], [11]], [[5], [-1], [11]]])
    done, failed = torch.full((2, 3), 2), torch.full((2, 3), 1)
    with torch.no_grad():
        assert torch.equal(m(z, sigma, a, outcome=done)[0], m(z, sigma, a, outcome=failed)[0])  # zero init
        torch.nn.init.normal_(m.outcome_embed.weight, std=0.5)
        v_done, v_failed = m(z, sigma, a, outcome=done)[0], m(z, sigma, a, outcome=failed)[0]
        v_none = m(z, sigma, a)[0]
    assert not torch.allclose(v_done[0], v_failed[0])
    # a frame whose action is dropped (-1, for guidance) drops its outcome too
    with torch.no_grad():
        one = (z[:, :1], sigma[:, :1], torch.full((2, 1, 1), -1))
        assert torch.equal(m(*one, outcome=done[:, :1])[0], m(*one, outcome=failed[:, :1])[0])
    assert torch.equal(v_none, m(z, sigma, a, outcome=torch.zeros(2, 3, dtype=torch.int64))[0])
    with pytest.raises(ValueError, match="outcome must be an int64 tensor of shape"):
        m(z, sigma, a, outcome=torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="0 \\(not judged\\), 1 \\(refused\\) or 2"):
        m(z, sigma, a, outcome=torch.full((2, 3), 3))
    plain = tiny(outcomes=False)
    with pytest.raises(ValueError, match="trained without outcome tokens"):
        plain(z, sigma, a, outcome=done)


def test_outcome_token_through_the_kv_cache_matches_the_full_window():
    m = tiny()
    torch.nn.init.normal_(m.outcome_embed.weight, std=0.5)
    b, T = 2, 4
    z = torch.randn(b, T, 4, 8, 8)
    a = torch.tensor([[[5], [11], [2], [6]], [[-1], [5], [0], [5]]])
    o = torch.tensor([[0, 2, 0, 1], [0, 1, 0, 2]])
    sigma = torch.zeros(b, T)
    sigma[:, -1] = 0.6
    with torch.no_grad():
        v_full, h_full = m(z, sigma, a, outcome=o)
        cache = KVCache(5)
        for t in range(T - 1):
            m.forward_frame(z[:, t : t + 1], torch.zeros(b), a[:, t], cache, write=True, outcome=o[:, t])
        v, h = m.forward_frame(z[:, -1:], torch.full((b,), 0.6), a[:, -1], cache, outcome=o[:, -1])
    assert torch.allclose(v, v_full[:, -1:], atol=1e-4) and torch.allclose(h, h_full[:, -1:], atol=1e-4)


def test_gate_samples_outcomes_with_each_dreams_generator():
    gate = OutcomeGate(MoveGateConfig(latent_channels=4, latent_hw=(9, 9), moves=ATTEMPTS, width=8))
    p_done = torch.tensor([0.999, 0.001, 0.3, 0.3, 0.5])
    gate.forward = lambda z, a: torch.logit(1 - p_done)  # p(failed) logits
    z, a = torch.randn(5, 4, 9, 9), torch.tensor([5, 11, 5, 5, 1])
    F_, D, N = OUTCOME_FAILED, OUTCOME_DONE, OUTCOME_NONE
    assert gate.sample(z, a).tolist() == [D, F_, F_, F_, N]  # argmax; a move is not judged
    draws = torch.stack([gate.sample(z, a, [torch.Generator().manual_seed(s + i) for i in range(5)])
                         for s in range(400)])
    assert (draws[:, 0] == D).all() and (draws[:, 1] == F_).all() and (draws[:, 4] == N).all()
    assert 0.22 < (draws[:, 2] == D).float().mean() < 0.38  # a chance stays a chance
    gens = [torch.Generator().manual_seed(7) for _ in range(5)]
    again = [torch.Generator().manual_seed(7) for _ in range(5)]
    assert torch.equal(gate.sample(z, a, gens), gate.sample(z, a, again))
    floored = torch.stack([gate.sample(z, a, [torch.Generator().manual_seed(s + i) for i in range(5)], floor=0.4)
                           for s in range(50)])
    assert (floored[:, 2] == F_).all()  # below the floor: never done
    with pytest.raises(ValueError, match="one generator per row"):
        gate.sample(z, a, gens[:2])


@pytest.fixture(scope="module")
def outcomes72(tmp_path_factory):
    """A tile-aligned tiny world with Crafter's moves and outcome tokens, and latents of 72x72
    random-policy recordings (train and held out)."""
    from conftest import tiny_world72_with_latents

    root = tmp_path_factory.mktemp("outcome")
    world, caches = tiny_world72_with_latents(root, outcomes=True, max_steps=80)
    return root, world, caches


def test_train_outcome_gate_ships_into_a_world_that_dreams_with_it(outcomes72, capsys):
    root, world, (train_lat, held_lat) = outcomes72
    out = root / "og" / "outcome_gate.safetensors"
    result = train_gate(TrainGateConfig(world=str(world), latents=train_lat, heldout=held_lat, out=str(out),
                                        judge="attempts", epochs=2, batch_size=16, progress=False))
    assert "p(done) refused" in capsys.readouterr().out
    cache = LatentCache.load(held_lat)
    idx, refused = move_samples(cache, ATTEMPTS, "attempts", 6)
    labels = outcome_labels(cache, ATTEMPTS, 6)
    assert len(idx) == result["heldout"]["samples"] > 0
    assert np.array_equal(refused, labels[idx + 1] == OUTCOME_FAILED)
    assert np.isin(cache.actions[idx, 0].numpy(), ATTEMPTS).all()
    assert set(json.loads(out.with_suffix(".json").read_text())["heldout"]) >= {"p_done_when_refused", "accuracy"}

    shipped = ship(str(world), str(root / "shipped"), outcome_gate=str(out), outcome_floor=0.05, start_sigma=0.3)
    w = WorldModel.load(shipped)
    assert isinstance(w.outcome_gate, OutcomeGate) and w.rollout_defaults["outcome_floor"] == 0.05
    w.outcome_gate.forward = lambda z, a: torch.where(a[:, 0] == 11, torch.full((len(a),), -30.0),
                                                      torch.full((len(a),), 30.0))  # only make_wood_pickaxe works
    seen = []
    real = w.dit.forward_frame

    def spy(*args, outcome=None, **kw):
        seen.append(None if outcome is None else outcome.tolist())
        return real(*args, outcome=outcome, **kw)

    w.dit.forward_frame = spy
    roll = DreamRollout(w, batch=3, steps=2, guidance=1.0)
    roll.reset(w.start_frames[:3].numpy(), w.start_actions[:3].numpy())
    seen.clear()
    roll.step(np.array([11, 5, 1]))
    assert seen and all(s == [OUTCOME_DONE, OUTCOME_FAILED, OUTCOME_NONE] for s in seen)
    off = DreamRollout(w, batch=3, steps=2, guidance=1.0, outcome_gate=False)
    off.reset(w.start_frames[:3].numpy(), w.start_actions[:3].numpy())
    seen.clear()
    off.step(np.array([11, 5, 1]))
    assert seen and all(s is None for s in seen)
    # shipping without the gate drops it; a DiT without outcome tokens cannot take one
    assert WorldModel.load(ship(str(shipped), str(shipped), outcome_gate="")).outcome_gate is None
    from conftest import build_tiny_world

    plain = build_tiny_world(root / "plain", size=(72, 72), view_moves=True, view_rows=7)
    with pytest.raises(SystemExit, match="no outcome tokens"):
        ship(str(plain), str(root / "plain_ship"), outcome_gate=str(out))
    w.outcome_gate.save(plain / "outcome_gate.safetensors")
    with pytest.raises(CheckpointError, match="trained without outcome tokens"):
        WorldModel.load(plain)


def test_train_world_outcomes_trains_with_the_recorded_outcomes(outcomes72, monkeypatch):
    root, world, (train_lat, _) = outcomes72
    import train_world as tw

    import model.diffusion as diffusion

    got = []
    real = diffusion.flow_loss

    def spy(*args, **kw):
        got.append(args[-1])  # outcome, the last positional argument WorldLoss passes
        return real(*args, **kw)

    monkeypatch.setattr(tw, "flow_loss", spy)
    args = ["--latents", train_lat, "--vae", str(world / "vae.safetensors"), "--recordings", str(root / "rec_train"),
            "--out", str(root / "w"), "--preset", "XS", "--patch", "3", "--window", "4", "--batch-size", "8",
            "--steps", "3", "--warmup", "1", "--prev-frame", "--view-moves", "crafter", "--start-bank", "2",
            "--no-progress", "--threads", "1"]
    folder = train_world(world_args(args + ["--outcomes"]))
    assert len(got) == 3 and all(o is not None and o.dtype == torch.int64 and o.shape == (8, 4) for o in got)
    labels = torch.from_numpy(outcome_labels(LatentCache.load(train_lat), ATTEMPTS, 6))
    assert set(torch.cat([o.flatten() for o in got]).tolist()) <= set(labels.tolist())
    dit = WorldModel.load(folder).dit
    assert dit.cfg.outcomes and dit.outcome_embed.weight.abs().max() > 0  # it trains, from zero
    with pytest.raises(SystemExit, match="--outcomes needs --view-moves"):
        world_args(["--outcomes"])


def test_train_heads_reads_features_with_the_recorded_outcomes(outcomes72, monkeypatch):
    root, world, (train_lat, held_lat) = outcomes72
    import train_heads as th

    real, got = th.outcome_labels, []

    def spy(cache, attempts, sleep_action=None, **kw):
        got.append((list(attempts), sleep_action))
        return real(cache, attempts, sleep_action, **kw)

    monkeypatch.setattr(th, "outcome_labels", spy)
    th.main(["--world", str(world), "--latents", train_lat, "--heldout", held_lat, "--windows", "16", "--epochs", "2",
             "--out", str(root / "heads"), "--threads", "1"])
    assert got == [(list(ATTEMPTS), 6)] * 2  # the training cache and the held-out one
    assert WorldModel.load(root / "heads").dit.cfg.outcomes
