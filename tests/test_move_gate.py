"""MoveGate: which moves the game refuses; the DiT's `stay` input; dreams that keep the view still;
gate training and world training with --refused-stay on real (tiny) recordings."""

import json

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError
from model.dit import DiTConfig, SpacetimeDiT
from model.latent_cache import LatentCache, refused_move_frames
from model.move_gate import MoveGate, MoveGateConfig, gate_loss
from model.move_gate_training import TrainGateConfig, move_samples
from model.move_gate_training import parse_args as gate_args
from model.move_gate_training import train as train_gate
from model.rollout import DreamRollout, WorldModel
from model.world_export import ship
from model.world_training import parse_args as world_args
from model.world_training import train as train_world
from worldenv.games import get_game

MOVES = ((1, -1, 0), (2, 1, 0), (3, 0, -1), (4, 0, 1))


def test_gate_scores_only_moves_and_names_bad_shapes():
    gate = MoveGate(MoveGateConfig(latent_channels=4, latent_hw=(9, 9), moves=(1, 2, 3, 4), width=8))
    z = torch.randn(5, 4, 9, 9)
    logit = gate(z, torch.tensor([[0], [1], [4], [5], [-1]]))
    assert torch.isfinite(logit[1:3]).all() and torch.isneginf(logit[[0, 3, 4]]).all()
    assert not gate.refused(z, torch.tensor([0, 5, 6, 7, -1])).any()  # (b,) actions work too
    with pytest.raises(ValueError, match=r"latents \(b, 4, 9, 9\)"):
        gate(torch.randn(2, 4, 8, 8), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="actions must be"):
        gate(z, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="distinct"):
        MoveGateConfig(moves=(1, 1))


def test_gate_learns_which_neighbour_blocks_each_move():
    """A synthetic rule like Crafter's: a move is refused when the cell it enters holds an obstacle
    (channel 0 > 0.6 there); the gate must learn it per direction from the cells next to the centre."""
    torch.manual_seed(0)
    gate = MoveGate(MoveGateConfig(latent_channels=4, latent_hw=(9, 9), moves=(1, 2, 3, 4), width=16))

    def batch(n):
        z = torch.randn(n, 4, 9, 9)
        a = torch.randint(1, 5, (n, 1))
        dx = torch.tensor([0, -1, 1, 0, 0])[a[:, 0]]
        dy = torch.tensor([0, 0, 0, -1, 1])[a[:, 0]]
        refused = z[torch.arange(n), 0, 4 + dy, 4 + dx] > 0.6
        return z, a, refused

    opt = torch.optim.Adam(gate.parameters(), lr=3e-3)
    z_test, a_test, r_test = batch(1000)
    with torch.no_grad():
        before = gate_loss(gate, z_test, a_test, r_test).item()
    for _ in range(300):
        loss = gate_loss(gate, *batch(128))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = gate_loss(gate, z_test, a_test, r_test).item()
        accuracy = (gate.refused(z_test, a_test) == r_test).float().mean().item()
    assert after < 0.5 * before
    assert accuracy > 0.9 > (~r_test).float().mean().item()  # better than always "moves"


def test_gate_checkpoint_round_trip_and_errors(tmp_path):
    gate = MoveGate(MoveGateConfig(latent_channels=4, latent_hw=(9, 9), width=8))
    gate.save(tmp_path / "g.safetensors")
    again, _ = MoveGate.load(tmp_path / "g.safetensors", latent_channels=4)
    z, a = torch.randn(3, 4, 9, 9), torch.tensor([1, 2, 3])
    assert torch.equal(gate(z, a), again(z, a))
    with pytest.raises(CheckpointError, match="reads 4 latent channels"):
        MoveGate.load(tmp_path / "g.safetensors", latent_channels=16)
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        MoveGate.load(tmp_path / "bad.safetensors")


def test_stay_keeps_the_moved_input_still_and_is_checked():
    torch.manual_seed(0)
    dit = SpacetimeDiT(DiTConfig(latent_channels=4, patch=3, dim=32, depth=1, heads=2, window=3, prev_frame=True,
                                 view_moves=MOVES, view_rows=7, action_nvec=(17,)))
    torch.nn.init.normal_(dit.moved_in.weight, std=0.1)
    torch.nn.init.normal_(dit.patch_out.weight, std=0.1)
    prev = torch.randn(2, 1, 4, 9, 9)
    act = torch.tensor([[[1]], [[2]]])
    stay = torch.tensor([[True], [False]])
    moved = dit.moved(prev, act, stay)
    assert torch.equal(moved[0], prev[0]) and not torch.equal(moved[1], prev[1])
    assert torch.equal(moved[1], dit.moved(prev, act)[1])
    assert not dit.uncovered(act[:, 0], 9, 9, stay[:, 0])[0].any() and dit.uncovered(act[:, 0], 9, 9)[0].any()
    z, sigma = torch.randn(2, 3, 4, 9, 9), torch.rand(2, 3)
    acts = torch.tensor([[[-1], [1], [3]], [[-1], [0], [2]]])
    none = torch.zeros(2, 3, dtype=torch.bool)
    v0, _ = dit(z, sigma, acts)
    assert torch.equal(dit(z, sigma, acts, stay=none)[0], v0)
    some = none.clone()
    some[0, 1] = True
    v1, _ = dit(z, sigma, acts, stay=some)
    assert not torch.allclose(v1[0, 1], v0[0, 1]) and torch.allclose(v1[1], v0[1])
    with pytest.raises(ValueError, match="stay must be a bool tensor of shape"):
        dit(z, sigma, acts, stay=torch.zeros(2, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="stay must be a bool tensor"):
        dit(z, sigma, acts, stay=torch.zeros(2, 3))


@pytest.fixture(scope="module")
def moves72(tmp_path_factory):
    """A tile-aligned tiny world with Crafter's moves, and latents of 72x72 recordings (train and held out)."""
    from conftest import tiny_world72_with_latents

    root = tmp_path_factory.mktemp("gate")
    world, caches = tiny_world72_with_latents(root)
    return root, world, caches


def test_train_move_gate_ships_into_a_world_that_dreams_with_it(moves72, capsys):
    root, world, (train_lat, held_lat) = moves72
    cache = LatentCache.load(train_lat)
    idx, labels = move_samples(cache, (1, 2, 3, 4))
    first = cache.actions[:, 0].numpy()
    assert np.isin(first[idx], [1, 2, 3, 4]).all()
    assert np.array_equal(labels, refused_move_frames(cache, (1, 2, 3, 4))[idx + 1])
    out = root / "gate" / "move_gate.safetensors"
    result = train_gate(gate_args(["--world", str(world), "--latents", train_lat, "--heldout", held_lat,
                                   "--out", str(out), "--epochs", "2", "--batch-size", "16", "--width", "8",
                                   "--no-progress"]))
    assert "heldout" in capsys.readouterr().out
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["heldout"]["samples"] == result["heldout"]["samples"] > 0
    assert 0 <= saved["heldout"]["accuracy"] <= 1

    shipped = ship(str(world), str(root / "with_gate"), move_gate=str(out))
    w = WorldModel.load(shipped)
    assert w.move_gate is not None and w.move_gate.cfg.moves == (1, 2, 3, 4)
    # a gate that refuses every move: the DiT is told the view stayed, on the sampling passes and
    # on the clean pass that writes the frame into the cache; other actions are never "stay"
    w.move_gate.forward = lambda z, a: torch.where(torch.isin(a[:, 0], torch.tensor([1, 2, 3, 4])),
                                                   torch.full((len(a),), 30.0), torch.full((len(a),), -30.0))
    seen = []
    real = w.dit.forward_frame

    def spy(*args, stay=None, **kw):
        seen.append(None if stay is None else stay.tolist())
        return real(*args, stay=stay, **kw)

    w.dit.forward_frame = spy
    roll = DreamRollout(w, batch=2, steps=2, guidance=1.0, start_sigma=0.3)
    roll.reset(w.start_frames[:2].numpy(), w.start_actions[:2].numpy())
    seen.clear()
    roll.step(np.array([1, 5]))
    assert seen and all(s == [True, False] for s in seen)
    off = DreamRollout(w, batch=2, steps=2, start_sigma=0.3, move_gate=False)
    off.reset(w.start_frames[:2].numpy(), w.start_actions[:2].numpy())
    seen.clear()
    off.step(np.array([1, 5]))
    assert seen and all(s is None for s in seen)
    # shipping again without the gate drops it (no stale gate is kept from the old folder)
    assert WorldModel.load(ship(str(shipped), str(shipped), move_gate="")).move_gate is None

    plain = root / "plain"
    from conftest import build_tiny_world

    build_tiny_world(plain, size=(72, 72))
    with pytest.raises(SystemExit, match="no view_moves"):
        train_gate(TrainGateConfig(world=str(plain), latents=train_lat, heldout=held_lat, out=str(out),
                                   progress=False))


def test_train_world_refused_stay_trains_with_the_recorded_refusals(moves72, monkeypatch):
    root, world, (train_lat, _) = moves72
    import model.diffusion as diffusion
    import model.world_training as tw

    got = []
    real = diffusion.flow_loss

    def spy(*args, **kw):
        got.append(args[-1])  # stay, the last positional argument WorldLoss passes
        return real(*args, **kw)

    monkeypatch.setattr(tw, "flow_loss", spy)
    train_world(world_args(["--latents", train_lat, "--vae", str(world / "vae.safetensors"), "--recordings",
                            str(root / "rec_train"), "--out", str(root / "w"), "--preset", "XS", "--patch", "3",
                            "--window", "4", "--batch-size", "8", "--steps", "3", "--warmup", "1", "--prev-frame",
                            "--view-moves", "game", "--refused-stay", "--start-bank", "2", "--no-progress",
                            "--threads", "1"]), get_game)
    assert len(got) == 3 and all(s is not None and s.dtype == torch.bool and s.shape == (8, 4) for s in got)
    with pytest.raises(SystemExit, match="--refused-stay needs --view-moves"):
        world_args(["--refused-stay"])


def test_the_shipped_gate_predicts_the_real_game():
    """The shipped world's gate, on frames of a real Crafter game it never saw (another seed and a
    random policy, unlike its explore-policy training data), says which moves the game refuses."""
    from worldenv.games.crafter.env import CrafterEnv
    from worldenv.worlds import SHIPPED_WORLD

    world = WorldModel.load(SHIPPED_WORLD)
    assert world.move_gate is not None
    env = CrafterEnv(size=world.frame_shape[:2])
    obs, info = env.reset(seed=123)
    rng = np.random.default_rng(0)
    frames, moves, refused = [], [], []
    for _ in range(300):
        # mostly moves, with some noops and interactions so the player meets trees, water and stone
        action = int(rng.choice([1, 2, 3, 4, 0, 5])) if rng.random() < 0.9 else int(rng.integers(17))
        new_obs, _, terminated, truncated, new_info = env.step(action)
        if action in (1, 2, 3, 4):
            frames.append(obs)
            moves.append(action)
            refused.append(bool((new_info["player_pos"] == info["player_pos"]).all()))
        obs, info = new_obs, new_info
        if terminated or truncated:
            obs, info = env.reset(seed=124)
    with torch.no_grad():
        z = world.vae.encode_images(torch.from_numpy(np.stack(frames))).float()
        pred = world.move_gate.refused(z, torch.tensor(moves)).numpy()
    refused = np.array(refused)
    assert 10 <= refused.sum() < len(refused)  # the walk met obstacles and also walked
    assert (pred == refused).mean() >= 0.95
    assert (pred & refused).sum() >= 0.8 * refused.sum()


def test_a_world_refuses_a_gate_for_other_moves_or_latents(tmp_path):
    from conftest import build_tiny_world

    folder = build_tiny_world(tmp_path / "w", size=(72, 72), view_moves=True)
    MoveGate(MoveGateConfig(latent_channels=4, moves=(5, 6), width=8)).save(folder / "move_gate.safetensors")
    with pytest.raises(CheckpointError, match=r"judges actions \[5, 6\]"):
        WorldModel.load(folder)
    MoveGate(MoveGateConfig(latent_channels=16, width=8)).save(folder / "move_gate.safetensors")
    with pytest.raises(CheckpointError, match="reads 16 latent channels"):
        WorldModel.load(folder)
    (folder / "move_gate.safetensors").unlink()
    gate = tmp_path / "g.safetensors"
    MoveGate(MoveGateConfig(latent_channels=4, latent_hw=(8, 8), width=8)).save(gate)
    with pytest.raises(SystemExit, match=r"reads \(8, 8\) latents"):
        ship(str(folder), str(tmp_path / "out"), move_gate=str(gate))
