"""Hostile tests (issue 39) of what is read from disk: NaN weights, the parts of a world that do not
belong together, the mode of outputs written through temporary files, and the temporary files a
killed write leaves."""

import os
import shutil
import stat

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError, clean_temporary_files, load_checkpoint, save_checkpoint
from model.move_gate import MoveGate, MoveGateConfig
from model.recordings import write_index
from model.rollout import DreamRollout, WorldModel
from worldenv.worlds import SHIPPED_WORLD


def overwrite_middle(path, n: int = 4096) -> None:
    """4 KiB of 0xFF written into the middle of a file, as the hostile tester did."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + n] = b"\xff" * n
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("part", ["dit.safetensors", "vae.safetensors"])
def test_nan_weights_refuse_to_load_naming_the_file_and_the_tensor(tmp_path, part):
    world = tmp_path / "world"
    shutil.copytree(SHIPPED_WORLD, world)  # the shipped files stay as they are
    overwrite_middle(world / part)
    with pytest.raises(CheckpointError, match=rf"{part}: tensor '[^']+' holds \d+ of \d+ values that are NaN"):
        WorldModel.load(world)
    assert (SHIPPED_WORLD / part).read_bytes() != (world / part).read_bytes()


def test_a_non_finite_latent_in_a_dream_raises(tiny_world):
    world = WorldModel.load(tiny_world)
    with torch.no_grad():  # weights gone bad in memory (the loader refuses them from a file)
        for p in world.dit.patch_out.parameters():
            p.fill_(float("nan"))
    roll = DreamRollout(world, steps=1)
    roll.reset(world.start_frames[:1].numpy(), world.start_actions[:1].numpy())
    with pytest.raises(FloatingPointError, match="non-finite latent"):
        roll.step(np.array([0]))


def test_a_vae_of_another_world_refuses_to_load(tmp_path):
    from conftest import build_tiny_world

    a = build_tiny_world(tmp_path / "a", seed=0)
    b = build_tiny_world(tmp_path / "b", seed=1)
    WorldModel.load(a)
    shutil.copy(b / "vae.safetensors", a / "vae.safetensors")
    with pytest.raises(CheckpointError, match=r"vae\.safetensors belongs to another world"):
        WorldModel.load(a)
    shutil.copy(b / "start_bank.safetensors", a / "start_bank.safetensors")
    shutil.copy(b / "dit.safetensors", a / "dit.safetensors")
    WorldModel.load(a)  # all three of b: one world again


def test_a_missing_move_gate_the_dit_was_saved_with_refuses_to_load(tmp_path):
    from conftest import build_tiny_world

    folder = build_tiny_world(tmp_path / "w", size=(72, 72), view_moves=True)
    world = WorldModel.load(folder)
    world.move_gate = MoveGate(MoveGateConfig(latent_channels=4, latent_hw=(9, 9), width=8))
    world.save_replacing(folder)
    assert WorldModel.load(folder).move_gate is not None
    (folder / "move_gate.safetensors").unlink()
    with pytest.raises(CheckpointError, match="move_gate.safetensors is missing"):
        WorldModel.load(folder)


def test_the_shipped_world_has_no_id_and_still_loads_checked_by_shapes(tmp_path, tiny_world):
    assert "world_id" not in load_checkpoint(SHIPPED_WORLD / "vae.safetensors", "VideoVAE")[1]
    world = tmp_path / "shipped"
    shutil.copytree(SHIPPED_WORLD, world)
    (world / "move_gate.safetensors").unlink()  # unknown parts: a world without a gate is fine
    assert WorldModel.load(world).move_gate is None
    # a 64x64 start bank in the 72x72 world: 8x8 latents do not cut into the DiT's 3x3 patches
    shutil.copy(tiny_world / "start_bank.safetensors", world / "start_bank.safetensors")
    with pytest.raises(CheckpointError, match=r"3x3 patches.*64x64 px"):
        WorldModel.load(world)


def test_outputs_written_through_temporary_files_have_the_umask_mode(tmp_path, tiny_world):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "x.safetensors", {"a": torch.zeros(2)}, "Test")
        write_index(tmp_path, [])
        WorldModel.load(tiny_world).save_replacing(tmp_path / "world")
        for f in [tmp_path / "x.safetensors", tmp_path / "index.json", *(tmp_path / "world").glob("*.safetensors")]:
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
        os.umask(0o027)
        save_checkpoint(tmp_path / "y.safetensors", {"a": torch.zeros(2)}, "Test")
        assert stat.S_IMODE((tmp_path / "y.safetensors").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_temporary_files_of_a_killed_write_are_cleaned(tmp_path):
    stale = tmp_path / ".last.safetensors.k1ll3d.tmp"
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / ".vae.safetensors.abc.tmp"
    other.write_bytes(b"\0")
    keep = tmp_path / "notes.tmp"  # not a temporary file of ours
    keep.write_text("mine")
    assert clean_temporary_files(tmp_path, ("last.safetensors",)) == [stale]
    assert not stale.exists() and other.exists()
    assert clean_temporary_files(tmp_path) == [other] and keep.exists()
