"""Hostile tests (issue 39) of the trainers: a run resumed at its last step exports its world, a
folder holding a run is refused without --resume or --overwrite, a resumed run with other settings
warns, a killed checkpoint write's temporary file is cleaned on the next start, and the heads'
feature cache is safetensors, not pickle."""

import pytest
import torch

from model import heads_training, move_gate_training, vae_training, world_training
from model.checkpoint import load_checkpoint
from model.latent_encoding import encode_folder
from model.rollout import WorldModel
from model.world_export import exported_step
from worldenv.collect import CollectConfig, collect
from worldenv.games import get_game


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_world):
    """A short 64x64 recording and its latents under the tiny world's VAE."""
    root = tmp_path_factory.mktemp("hostile_training")
    rec, lat = root / "rec", root / "lat"
    collect(CollectConfig(episodes=1, policy="random", out=str(rec), seed=7, workers=1, max_steps=24,
                          area=(32, 32), size=(64, 64)), progress=False)
    encode_folder(str(tiny_world / "vae.safetensors"), str(rec), str(lat), progress=False,
                  nvec=get_game("crafter").action_nvec)
    return rec, lat


def world_args(recorded, tiny_world, out, *more):
    rec, lat = recorded
    return world_training.parse_args(
        ["--latents", str(lat), "--vae", str(tiny_world / "vae.safetensors"), "--recordings", str(rec),
         "--preset", "XS", "--window", "4", "--batch-size", "2", "--start-bank", "1", "--no-progress",
         "--threads", "1", "--warmup", "1", "--no-captions", "--out", str(out), *more])


def vae_args(recorded, out, *more):
    rec, _ = recorded
    return vae_training.parse_args(["--data", str(rec), "--out", str(out), "--batch-size", "2", "--warmup", "1",
                                    "--no-progress", "--threads", "1", "--log-every", "1", "--channels", "8", "8",
                                    "16", "--latent-channels", "4", *more])


def test_a_world_run_killed_after_its_final_checkpoint_exports_its_world_when_resumed(
        recorded, tiny_world, tmp_path, monkeypatch, capsys):
    from model import world_export

    out = tmp_path / "run"
    real_export = world_export.export_world

    def killed(*args, **kwargs):  # the process dies between the final checkpoint and the export
        raise KeyboardInterrupt

    monkeypatch.setattr(world_export, "export_world", killed)
    with pytest.raises(KeyboardInterrupt):
        world_training.train(world_args(recorded, tiny_world, out, "--steps", "6", "--ckpt-every", "6",
                                        "--export-every", "100"), get_game)
    assert load_checkpoint(out / "last.safetensors", "SpacetimeDiT/train")[1]["step"] == 6
    assert not (out / "world").exists()
    monkeypatch.setattr(world_export, "export_world", real_export)
    capsys.readouterr()
    world_training.train(world_args(recorded, tiny_world, out, "--steps", "6", "--ckpt-every", "6",
                                    "--export-every", "100", "--resume"), get_game)
    said = capsys.readouterr().out
    assert "does not hold step 6: exporting it" in said and f"world model: {out / 'world'} (step 6)" in said
    assert WorldModel.load(out / "world").meta["steps"] == 6 and exported_step(out / "world") == 6
    # resumed again with nothing left to do: the world is there and is not written again
    mtime = (out / "world" / "dit.safetensors").stat().st_mtime_ns
    world_training.train(world_args(recorded, tiny_world, out, "--steps", "6", "--resume"), get_game)
    assert (out / "world" / "dit.safetensors").stat().st_mtime_ns == mtime


def test_every_trainer_refuses_a_folder_holding_a_run(recorded, tiny_world, tmp_path):
    # VAE: a finished run, then the same folder without --resume
    vae_out = tmp_path / "vae"
    vae_training.train(vae_args(recorded, vae_out, "--steps", "2"))
    log = (vae_out / "log.csv").read_text()
    with pytest.raises(SystemExit, match=r"already holds a VAE run \(last.safetensors, vae.safetensors, log.csv\)"):
        vae_training.train(vae_args(recorded, vae_out, "--steps", "2"))
    assert (vae_out / "log.csv").read_text() == log  # nothing appended, nothing replaced
    with pytest.raises(SystemExit, match="give one"):
        vae_training.train(vae_args(recorded, vae_out, "--steps", "2", "--resume", "--overwrite"))
    vae_training.train(vae_args(recorded, vae_out, "--steps", "3", "--overwrite"))
    rows = (vae_out / "log.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["1", "2", "3"]  # a new log, not the old one's continued

    # world: its log alone marks a run
    world_out = tmp_path / "world_run"
    world_out.mkdir()
    (world_out / "log.csv").write_text("time,step\n")
    with pytest.raises(SystemExit, match="already holds a world training run"):
        world_training.train(world_args(recorded, tiny_world, world_out, "--steps", "1"), get_game)

    # heads: a world in --out
    with pytest.raises(SystemExit, match="already holds a world"):
        heads_training.fit(heads_training.parse_args(["--world", str(tiny_world), "--latents", "x",
                                                      "--out", str(tiny_world)]))

    # move gate: an existing gate at --out
    from conftest import build_tiny_world

    gate_world = build_tiny_world(tmp_path / "gate_world", size=(72, 72), view_moves=True)
    gate = tmp_path / "gate" / "move_gate.safetensors"
    gate.parent.mkdir()
    gate.write_bytes(b"a trained gate")
    with pytest.raises(SystemExit, match="already exists"):
        move_gate_training.train(move_gate_training.parse_args(
            ["--world", str(gate_world), "--latents", "x", "--heldout", "y", "--out", str(gate)]))
    assert gate.read_bytes() == b"a trained gate"


def test_resuming_a_vae_run_with_other_settings_warns_and_cleans_a_killed_write(recorded, tmp_path, capsys):
    out = tmp_path / "vae"
    vae_training.train(vae_args(recorded, out, "--steps", "2", "--lr", "1e-3"))
    stale = out / ".last.safetensors.k1ll3d.tmp"  # a checkpoint write killed mid-way
    stale.write_bytes(b"\0" * 4096)
    capsys.readouterr()
    vae_training.train(vae_args(recorded, out, "--steps", "3", "--lr", "2e-3", "--resume"))
    said = capsys.readouterr().out
    assert "warning: resuming" in said and "'lr': (0.001, 0.002)" in said and "'steps': (2, 3)" in said
    assert "'progress'" not in said and "'resume'" not in said  # how it runs is not a setting
    assert not stale.exists() and f"removed {stale}" in said


def test_the_heads_feature_cache_is_safetensors_and_never_unpickled(tmp_path, monkeypatch, capsys):
    feats = {"key": {"world": "w", "windows": 3, "dit_file": [1, 2]}, "names": ["collect_wood"],
             "x": torch.randn(3, 5), "y": {"unlock": torch.ones(3), "which": torch.zeros(3, dtype=torch.long)},
             "hx": torch.randn(2, 5), "hy": {"unlock": torch.zeros(2)}}
    path = tmp_path / "features.safetensors"
    heads_training.save_features(path, feats)
    assert load_checkpoint(path, heads_training.FEATURES_KIND)[1]["names"] == ["collect_wood"]

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load/torch.save called: the features must not be pickled")

    monkeypatch.setattr(torch, "load", no_pickle)
    monkeypatch.setattr(torch, "save", no_pickle)
    back = heads_training.load_features(path)
    assert back["key"] == feats["key"] and back["names"] == feats["names"]
    for name in ("x", "hx"):
        assert torch.equal(back[name], feats[name])
    assert torch.equal(back["y"]["which"], feats["y"]["which"]) and torch.equal(back["hy"]["unlock"], feats["hy"]["unlock"])
    # an earlier version's pickle at the path is not unpickled: its features are computed again
    (tmp_path / "old.pt").write_bytes(b"\x80\x04pickled")
    assert heads_training.load_features(tmp_path / "old.pt") == {}
    assert "computing the features again" in capsys.readouterr().out
    assert "torch.load" not in heads_training.__loader__.get_source(heads_training.__name__)
