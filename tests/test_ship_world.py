"""Shipping a world (model/world_export.py, scripts/ship_world.py): copies a world and stores its
rollout settings."""

import pytest

from model.checkpoint import CheckpointError
from model.rollout import DreamRollout, WorldModel
from model.world_export import main


def test_ship_stores_rollout_settings_and_replaces_the_destination(tiny_world, tmp_path):
    dest = tmp_path / "shipped"
    main(["--world", str(tiny_world), "--to", str(dest), "--guidance", "2.5", "--reground", "--start-sigma", "0.3",
          "--fresh-steps", "2"])
    world = WorldModel.load(dest)
    assert world.rollout_defaults == {"context_sigma": 0.05, "reground": True, "guidance": 2.5, "start_sigma": 0.3,
                                      "fresh_steps": 2}
    with pytest.warns(UserWarning, match="does not know the moves"):  # the tiny world has no view_moves
        roll = DreamRollout(world)
    assert roll.guidance == 2.5 and roll.reground and roll.start_sigma == 0.3 and roll.fresh_steps == 2
    main(["--world", str(dest), "--to", str(dest.with_name("again")), "--context-sigma", "0.1"])
    again = WorldModel.load(dest.with_name("again")).rollout_defaults
    assert again == {"context_sigma": 0.1, "reground": True, "guidance": 2.5, "start_sigma": 0.3,
                     "fresh_steps": 2}  # kept
    (dest / "README.md").write_text("what this world is")
    main(["--world", str(tiny_world), "--to", str(dest)])  # replacing an existing folder
    assert WorldModel.load(dest).rollout_defaults["guidance"] == 1.0
    assert (dest / "README.md").read_text() == "what this world is"  # its docs are not lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "shipped"]  # no .tmp / .old left


def test_ship_refuses_bad_settings(tiny_world, tmp_path):
    with pytest.raises(CheckpointError, match="out of range"):
        main(["--world", str(tiny_world), "--to", str(tmp_path / "w"), "--context-sigma", "1.5"])
    with pytest.raises(CheckpointError, match="fresh_steps >= 1"):
        main(["--world", str(tiny_world), "--to", str(tmp_path / "w"), "--fresh-steps", "0"])
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_ship_swaps_in_a_vae_of_the_same_latent_space_only(tiny_world, tmp_path):
    import torch

    from model.vae import VideoVAE

    world = WorldModel.load(tiny_world)
    tuned = VideoVAE.load(tiny_world / "vae.safetensors")  # a decoder-only run: another decoder, same encoder
    with torch.no_grad():
        for p in tuned.decoder_parameters():
            p.add_(0.01)
    tuned.save(tmp_path / "tuned.safetensors")
    dest = tmp_path / "shipped"
    main(["--world", str(tiny_world), "--to", str(dest), "--vae", str(tmp_path / "tuned.safetensors")])
    shipped = WorldModel.load(dest)
    assert shipped.vae.same_latent_space(world.vae)
    assert torch.equal(shipped.vae.decoder.net[-2].weight, tuned.decoder.net[-2].weight)
    roll = DreamRollout(shipped)  # the dream runs through it
    roll.reset(shipped.start_frames[:1])
    out = roll.step([[0]])
    assert out.frames.shape[1:] == shipped.start_frames.shape[2:]
    other = VideoVAE(world.vae.cfg)  # same config, other encoder: other latents
    with torch.no_grad():
        other.encoder.net[1].weight.add_(0.1)
    other.save(tmp_path / "other.safetensors")
    with pytest.raises(SystemExit, match="other latents"):
        main(["--world", str(tiny_world), "--to", str(tmp_path / "x"), "--vae", str(tmp_path / "other.safetensors")])
    assert not (tmp_path / "x").exists()


def test_ship_rebuilds_the_start_bank_from_episode_openings(tiny_world, tmp_path):
    import numpy as np

    from model.data import episode_arrays
    from model.recordings import list_episodes
    from worldenv.collect import CollectConfig, collect

    rec = tmp_path / "rec"
    collect(CollectConfig(episodes=2, policy="random", out=str(rec), seed=3, workers=1, max_steps=20, area=(32, 32),
                          size=(64, 64)),
            progress=False)
    before = WorldModel.load(tiny_world)
    main(["--world", str(tiny_world), "--to", str(tmp_path / "w"), "--start-bank", str(rec), "--start-bank-size", "3"])
    bank = WorldModel.load(tmp_path / "w")
    assert bank.start_frames.shape == (3, *before.start_frames.shape[1:])
    firsts = [episode_arrays(rec, e).frames[0] for e in list_episodes(rec)]
    frames = bank.start_frames.numpy()
    assert all((c == c[0]).all() and any(np.array_equal(c[0], f) for f in firsts) for c in frames)  # held openings
    assert (bank.start_actions == -1).all()
    collect(CollectConfig(episodes=1, policy="random", out=str(tmp_path / "wide"), seed=3, workers=1, max_steps=20,
                          area=(32, 32), size=(72, 72)), progress=False)
    with pytest.raises(SystemExit, match="dreams frames"):
        main(["--world", str(tiny_world), "--to", str(tmp_path / "x"), "--start-bank", str(tmp_path / "wide")])
    assert not (tmp_path / "x").exists()
