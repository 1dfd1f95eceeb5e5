"""World training (model/world_training.py): several frame sizes in one model (size buckets),
starting from trained weights, and the view moves a game declares."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError, load_checkpoint
from model.dit import DiTConfig, SpacetimeDiT
from model.latent_cache import attempt_frames, episode_records, item_gain_frames, refused_move_frames
from model.latent_encoding import encode_folder
from model.rollout import WorldModel
from model.world_training import (
    check_tile_aligned,
    init_weights,
    load_buckets,
    parse_args,
    parse_view_moves,
    train,
)
from worldenv.collect import CollectConfig, collect
from worldenv.games import get_game

CRAFTER = get_game("crafter")
MOVES = parse_view_moves("game", CRAFTER)  # Crafter's four moves, by action
NVEC = CRAFTER.action_nvec


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory, tiny_world):
    """Latent caches of square 64x64 and widescreen 96x64 Crafter recordings (13x9 tile view)."""
    root = tmp_path_factory.mktemp("sizes")
    vae = str(tiny_world / "vae.safetensors")
    caches = []
    for name, size, view in (("square", (64, 64), (9, 9)), ("wide", (96, 64), (13, 9))):
        rec = root / f"rec_{name}"
        collect(CollectConfig(episodes=2, policy="random", out=str(rec), seed=3, workers=1, max_steps=24,
                              area=(32, 32), size=size, view=view), progress=False)
        encode_folder(vae, str(rec), str(root / f"lat_{name}"), progress=False, nvec=NVEC)
        caches.append(str(root / f"lat_{name}"))
    return root, caches


def test_buckets_load_with_their_sizes_and_weights(two_sizes):
    _, caches = two_sizes
    cfg = parse_args(["--latents", ",".join(caches), "--bucket-weights", "3,1"])
    buckets, p = load_buckets(cfg)
    assert [tuple(b.cache.latents.shape[2:]) for b in buckets] == [(8, 8), (8, 12)]
    assert np.allclose(p, [0.75, 0.25])
    with pytest.raises(ValueError, match="one per folder"):
        load_buckets(parse_args(["--latents", ",".join(caches), "--bucket-weights", "1"]))
    with pytest.raises(ValueError, match="names no folder"):
        load_buckets(parse_args(["--latents", " , "]))
    # --event-frames gains: unlocks plus inventory gains, one flag per frame of each cache
    gains = load_buckets(parse_args(["--latents", ",".join(caches), "--event-weight", "4", "--event-frames", "gains"]))[0]
    assert [b.events.shape for b in gains] == [(len(b.cache),) for b in gains]
    for b in gains:
        assert torch.equal(b.events, torch.from_numpy(item_gain_frames(b.cache)) | (b.cache.rewards >= 0.5))
    assert buckets[0].events is None  # event weight off: nothing to read
    with pytest.raises(SystemExit, match="event-frames"):
        parse_args(["--event-frames", "items"])


def test_attempt_frames_are_the_frames_after_acting_on_the_world(two_sizes):
    """--event-frames attempts: the gains, and every frame reached by an action that is neither a
    noop nor a view move (do, sleep, place, make), whether the game let it happen or not."""
    _, caches = two_sizes
    args = ["--latents", caches[0], "--event-weight", "4", "--prev-frame", "--view-moves", "game"]
    b = load_buckets(parse_args(args + ["--event-frames", "attempts"]), MOVES)[0][0]
    gains = load_buckets(parse_args(args + ["--event-frames", "gains"]), MOVES)[0][0].events
    flags = attempt_frames(b.cache, [0, 1, 2, 3, 4])
    assert torch.equal(b.events, gains | torch.from_numpy(flags))
    i = 0
    for records in episode_records(b.cache):
        assert not flags[i]  # an episode's first frame follows no action
        for prev, _ in zip(records, records[1:], strict=False):
            i += 1
            assert flags[i] == (prev["action"] >= 5)
        i += 1
    assert 0 < flags.sum() < len(flags)  # the random policy both moved and acted
    assert (b.events & ~gains).any()  # failed attempts are the frames the gains left out
    with pytest.raises(SystemExit, match="needs --view-moves"):
        parse_args(["--event-frames", "attempts", "--event-weight", "4"])


def test_refused_moves_are_the_moves_that_left_the_player_in_place(two_sizes):
    """--refused-weight flags the frames a move led to where the recorded player_pos did not change;
    moves that moved the player, other actions and episode starts are not flagged."""
    _, caches = two_sizes
    moves = [m[0] for m in MOVES]
    buckets = load_buckets(parse_args(["--latents", caches[0], "--refused-weight", "5", "--prev-frame",
                                       "--view-moves", "game"]), MOVES)[0]
    flags = buckets[0].refused.numpy()
    assert flags.shape == (len(buckets[0].cache),) and flags.dtype == bool
    assert np.array_equal(flags, refused_move_frames(buckets[0].cache, moves))
    seen = {"refused": 0, "moved": 0}
    i = 0
    for records in episode_records(buckets[0].cache):
        assert not flags[i]  # an episode's first frame follows no action
        for prev, rec in zip(records, records[1:], strict=False):
            i += 1
            is_move = prev["action"] in moves
            assert flags[i] == (is_move and rec["player_pos"] == prev["player_pos"])
            seen["refused" if flags[i] else "moved" if is_move else "other"] = 1
        i += 1
    assert seen["moved"]  # the random policy moved somewhere in 48 steps
    with pytest.raises(SystemExit, match="needs --view-moves"):
        parse_args(["--latents", caches[0], "--refused-weight", "5"])
    with pytest.raises(SystemExit, match="refused-weight must be >= 0"):
        parse_args(["--refused-weight", "-2", "--prev-frame", "--view-moves", "game"])


def test_refused_move_frames_on_written_records(tmp_path):
    """Hand-written jsonl: frame t is flagged when record t-1's action is a move and player_pos did
    not change; a move that moved, a non-move in place, the first frame of the next episode (after
    a move on the last frame of the one before) and a record without player_pos are not."""
    episodes = {
        "a": [(3, [5, 5]), (3, [5, 5]), (1, [5, 5]), (0, [4, 5]), (2, [4, 5]), (2, [4, 5])],
        "b": [(4, [4, 5]), (4, [4, 5]), (None, None)],  # starts where "a" ended, after a move
    }
    from conftest import write_records

    write_records(tmp_path, {name: [{"action": a, **({"player_pos": p} if p is not None else {})} for a, p in recs]
                             for name, recs in episodes.items()})

    class Cache:  # what refused_move_frames reads of a latent cache
        episode_lengths = torch.tensor([6, 3])
        meta = {"data": str(tmp_path)}

        def __len__(self):
            return 9

    flags = refused_move_frames(Cache(), [1, 2, 3, 4]).tolist()
    assert flags == [False, True, True, False, False, True, False, True, False]


def test_one_model_trains_on_two_sizes_then_continues_from_its_weights(two_sizes, tiny_world, capsys):
    root, caches = two_sizes
    common = ["--latents", ",".join(caches), "--bucket-weights", "1,1", "--vae", str(tiny_world / "vae.safetensors"),
              "--recordings", str(root / "rec_square"), "--preset", "XS", "--window", "4", "--batch-size", "2",
              "--start-bank", "2", "--log-every", "1", "--no-progress", "--threads", "1", "--warmup", "1"]
    first = root / "first"
    # --stop-at ends a run early on the schedule of --steps; --resume goes on with that schedule
    train(parse_args(common + ["--out", str(first), "--steps", "6", "--stop-at", "4"]), games=get_game)
    assert load_checkpoint(first / "last.safetensors", "SpacetimeDiT/train")[1]["step"] == 4
    assert WorldModel.load(first / "world").meta["steps"] == 4
    train(parse_args(common + ["--out", str(first), "--steps", "6", "--resume"]), games=get_game)
    assert "p=0.50" in capsys.readouterr().out
    world = WorldModel.load(first / "world")
    # The trained model samples both sizes (and one it never saw) through the same weights.
    for h, w in ((8, 8), (8, 12), (6, 10)):
        z = torch.randn(1, 2, world.dit.cfg.latent_channels, h, w)
        v, heads = world.dit(z, torch.rand(1, 2), torch.zeros(1, 2, 1, dtype=torch.long))
        assert v.shape == z.shape and torch.isfinite(v).all()

    second = root / "second"
    train(parse_args(common + ["--out", str(second), "--steps", "2", "--init", str(first / "last.safetensors"),
                               "--event-weight", "4", "--event-frames", "gains", "--prev-frame",
                               "--view-moves", "1:-1:0,2:1:0,3:0:-1,4:0:1"]), games=get_game)
    assert "initialised from" in capsys.readouterr().out
    # a model with the previous-frame input starts from weights without it, then trains it
    cfg2 = WorldModel.load(second / "world").dit.cfg
    assert cfg2.prev_frame and cfg2.view_moves == ((1, -1, 0), (2, 1, 0), (3, 0, -1), (4, 0, 1))
    trained, _ = load_checkpoint(second / "last.safetensors", "SpacetimeDiT/train")
    assert torch.count_nonzero(trained["model.prev_in.weight"]) > 0
    assert torch.count_nonzero(trained["model.moved_in.weight"]) > 0
    # --init copies every weight, from a training state or from the exported (bf16) world.
    state, _ = load_checkpoint(first / "last.safetensors", "SpacetimeDiT/train")
    from_state, from_world = SpacetimeDiT(world.dit.cfg), SpacetimeDiT(world.dit.cfg)
    init_weights(from_state, str(first / "last.safetensors"))
    init_weights(from_world, str(first / "world" / "dit.safetensors"))
    for name, a in from_state.state_dict().items():
        assert torch.equal(a, state[f"model.{name}"]), name
        assert torch.allclose(a, from_world.state_dict()[name], atol=1e-2, rtol=1e-2), name


def test_init_from_a_world_whose_heads_name_achievements(tmp_path):
    """A shipped world's DiT (heads re-fitted to name achievements) starts a new run: every weight
    is copied and the heads keep their three base outputs (unlock, rest of reward, termination)."""
    cfg = DiTConfig(latent_channels=4, patch=2, dim=32, depth=1, heads=2, window=4, action_nvec=NVEC)
    named = SpacetimeDiT(replace(cfg, achievements=5))
    named.save(tmp_path / "dit.safetensors")
    dit = SpacetimeDiT(cfg)
    init_weights(dit, str(tmp_path / "dit.safetensors"))
    want = named.state_dict()
    for name, a in dit.state_dict().items():
        b = want[name][:3] if name.startswith("heads_mlp.3.") else want[name]
        assert torch.equal(a, b), name
    # any other mismatch is still refused
    with pytest.raises(CheckpointError, match="do not fit"):
        init_weights(SpacetimeDiT(replace(cfg, achievements=2)), str(tmp_path / "dit.safetensors"))


def test_view_moves_game_needs_tile_aligned_latents(two_sizes):
    _, caches = two_sizes
    buckets, _ = load_buckets(parse_args(["--latents", caches[0]]))
    with pytest.raises(ValueError, match="tile is 7.11x7.11 px.*latent cell is 8x8 px"):
        check_tile_aligned(buckets, game=CRAFTER)
    with pytest.raises(SystemExit, match="add --prev-frame"):
        parse_args(["--view-moves", "game"])
    with pytest.raises(SystemExit, match="action:dx:dy"):
        parse_args(["--prev-frame", "--view-moves", "left"])
    with pytest.raises(SystemExit, match="'game' or 'action:dx:dy"):  # the old name of "game"
        parse_args(["--prev-frame", "--view-moves", "crafter"])


def test_view_moves_game_keeps_the_inventory_rows_in_place(tmp_path, tiny_world):
    """On a tile-aligned 72x72 cache the moved input shifts only the 7 local-view rows (auto: the
    rows the game's plugin says move), not the 2 inventory rows below; --view-rows overrides that.
    The moves and the rows come from the plugin of the recordings' game, which the script passes:
    without it `--view-moves game` says how to name the moves instead."""
    from model.world_training import main

    rec, lat = tmp_path / "rec72", tmp_path / "lat72"
    collect(CollectConfig(episodes=1, policy="random", out=str(rec), seed=5, workers=1, max_steps=16,
                          area=(32, 32), size=(72, 72)), progress=False)
    encode_folder(str(tiny_world / "vae.safetensors"), str(rec), str(lat), progress=False, nvec=NVEC)
    assert check_tile_aligned(load_buckets(parse_args(["--latents", str(lat)]))[0], game=CRAFTER) == 7
    common = ["--latents", str(lat), "--vae", str(tiny_world / "vae.safetensors"), "--recordings", str(rec),
              "--preset", "XS", "--patch", "3", "--window", "3", "--batch-size", "2", "--start-bank", "1",
              "--no-progress", "--threads", "1", "--warmup", "1", "--steps", "1", "--prev-frame",
              "--view-moves", "game"]
    for flags, rows in (([], 7), (["--view-rows", "0"], 0)):
        out = tmp_path / f"rows{rows}"
        main(common + ["--out", str(out)] + flags, games=get_game)
        world = WorldModel.load(out / "world")
        assert world.dit.cfg.view_rows == rows and world.dit.cfg.view_moves == MOVES
        assert world.meta["game"] == "crafter"  # the exported world names its game
    with pytest.raises(SystemExit, match="need the game plugins: run scripts/train_world.py"):
        main(common + ["--out", str(tmp_path / "none")])
    # explicit moves need no game: the same model
    explicit = ",".join(f"{a}:{dx}:{dy}" for a, dx, dy in MOVES)
    main(common[:-1] + [explicit, "--view-rows", "7", "--out", str(tmp_path / "explicit"), "--no-captions"])
    explicit_cfg = WorldModel.load(tmp_path / "explicit" / "world").dit.cfg
    assert explicit_cfg == replace(WorldModel.load(tmp_path / "rows7" / "world").dit.cfg, caption_dim=0)
    with pytest.raises(SystemExit, match="view-rows"):
        parse_args(["--view-rows", "-2"])
    with pytest.raises(SystemExit, match="add --view-moves"):
        parse_args(["--view-rows", "7"])
    # resuming a run under another model config (here the rows that move) is refused by name
    with pytest.raises(CheckpointError, match="another model.*view_rows"):
        train(parse_args(common + ["--out", str(tmp_path / "rows7"), "--view-rows", "5", "--resume",
                                   "--steps", "2"]), games=get_game)


def test_view_moves_flag():
    assert parse_view_moves("") == ()
    assert parse_view_moves("game", CRAFTER) == ((1, -1, 0), (2, 1, 0), (3, 0, -1), (4, 0, 1))
    assert parse_view_moves("5:2:0,6:0:-2") == ((5, 2, 0), (6, 0, -2))
    for bad in ("left", "1:2", "crafter"):
        with pytest.raises(ValueError, match="action:dx:dy"):
            parse_view_moves(bad)
    with pytest.raises(ValueError, match="no game plugins were given"):
        parse_view_moves("game")


def test_init_rejects_weights_of_another_shape(tmp_path, tiny_world):
    other = SpacetimeDiT(DiTConfig(latent_channels=4, patch=2, dim=64, depth=1, heads=2, window=4, action_nvec=NVEC))
    other.save(tmp_path / "other.safetensors")
    dit = SpacetimeDiT(DiTConfig(latent_channels=4, patch=2, dim=32, depth=2, heads=2, window=4, action_nvec=NVEC))
    with pytest.raises(CheckpointError, match="do not fit"):
        init_weights(dit, str(tmp_path / "other.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="corrupt"):
        init_weights(dit, str(tmp_path / "junk.safetensors"))


def test_vae_trains_on_two_sizes(two_sizes, tiny_world, tmp_path):
    """Decoder-only VAE fine-tuning over square and widescreen recordings in one run."""
    from model.vae import VideoVAE
    from model.vae_training import parse_args as vae_args
    from model.vae_training import train as train_vae

    root, _ = two_sizes
    out = tmp_path / "vae"
    train_vae(vae_args(["--data", f"{root / 'rec_square'},{root / 'rec_wide'}", "--bucket-weights", "1,1",
                        "--out", str(out), "--init", str(tiny_world / "vae.safetensors"), "--decoder-only",
                        "--steps", "4", "--batch-size", "2", "--log-every", "1", "--no-progress", "--threads", "1"]))
    vae = VideoVAE.load(out / "vae.safetensors")
    before = VideoVAE.load(tiny_world / "vae.safetensors")
    assert torch.equal(vae.latent_scale, before.latent_scale)  # the latent space is kept
    for w in (64, 96):
        x = torch.zeros(1, 1, 3, 64, w)
        assert vae.decode(vae.encode(x)).shape == x.shape


def test_torchrun_two_ranks_with_captions_and_two_sizes(two_sizes, tiny_world, tmp_path):
    """DDP over 2 CPU ranks (gloo): caption-dropped steps leave caption layers unused, and both
    size buckets run; the run must finish and export a world."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root, caches = two_sizes
    repo = Path(__file__).resolve().parents[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "scripts/train_world.py",
           "--latents", ",".join(caches), "--bucket-weights", "1,1", "--vae", str(tiny_world / "vae.safetensors"),
           "--recordings", str(root / "rec_square"), "--out", str(out), "--preset", "XS", "--window", "4",
           "--steps", "6", "--batch-size", "4", "--caption-dropout", "0.5", "--start-bank", "2",
           "--log-every", "1", "--no-progress", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "world" / "dit.safetensors").exists()
    assert len((out / "log.csv").read_text().splitlines()) == 7  # header + 6 steps


def test_same_seed_same_run(two_sizes, tiny_world):
    root, caches = two_sizes
    args = ["--latents", caches[0], "--vae", str(tiny_world / "vae.safetensors"), "--recordings",
            str(root / "rec_square"), "--preset", "XS", "--window", "4", "--batch-size", "2", "--start-bank", "1",
            "--no-progress", "--threads", "1", "--warmup", "1", "--steps", "2"]
    weights = []
    for name in ("a", "b"):
        train(parse_args(args + ["--out", str(root / f"seed_{name}")]), games=get_game)
        weights.append(load_checkpoint(root / f"seed_{name}" / "last.safetensors", "SpacetimeDiT/train")[0])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0] if k.startswith("model."))


def test_init_refuses_a_dit_with_the_removed_outcome_tokens(tmp_path):
    cfg = DiTConfig(latent_channels=4, patch=2, dim=32, depth=1, heads=2, window=4, action_nvec=NVEC)
    dit = SpacetimeDiT(cfg)
    weights = {**dit.state_dict(), "outcome_embed.weight": torch.zeros(3, 32)}
    from model.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "dit.safetensors", weights, "SpacetimeDiT", cfg)
    with pytest.raises(CheckpointError, match="outcome tokens, which were removed"):
        init_weights(SpacetimeDiT(cfg), str(tmp_path / "dit.safetensors"))


def test_training_needs_its_inputs_named():
    with pytest.raises(SystemExit, match="give --latents"):
        train(parse_args([]), games=get_game)
    with pytest.raises(SystemExit, match="give --vae"):
        train(parse_args(["--latents", "x"]), games=get_game)
