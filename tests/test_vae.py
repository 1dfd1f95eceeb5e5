"""VideoVAE: shapes at native sizes, causality, temporal factors, checkpoints, bad input, training."""

import json

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError
from model.vae import VAEConfig, VideoVAE, frames_to_tensor, tensor_to_frames

TINY = dict(channels=(8, 8, 16), latent_channels=4)


@pytest.mark.parametrize("tf, t", [(1, 1), (1, 5), (2, 5), (4, 9)])
@pytest.mark.parametrize("h, w", [(64, 64), (72, 120)])
def test_shapes(tf, t, h, w):
    vae = VideoVAE(VAEConfig(temporal_factor=tf, **TINY))
    x = torch.randn(2, t, 3, h, w)
    z = vae.encode(x)
    assert z.shape == (2, 1 + (t - 1) // tf, 4, h // 8, w // 8)
    assert vae.decode(z).shape == x.shape


@pytest.mark.parametrize("tf", [1, 2, 4])
def test_causal_in_time(tf):
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig(temporal_factor=tf, **TINY))
    x = torch.randn(1, 1 + 2 * tf, 3, 16, 16)
    y = x.clone()
    y[:, 1 + tf :] = torch.randn_like(y[:, 1 + tf :])  # change only the last group
    zx, zy = vae.encode(x), vae.encode(y)
    assert torch.allclose(zx[:, :2], zy[:, :2])
    assert not torch.allclose(zx[:, 2], zy[:, 2])
    # an image is a one-frame video: same latent as the first frame of a longer video
    assert torch.allclose(vae.encode(x[:, :1])[:, 0], zx[:, 0])


def test_frame_conversion_round_trip():
    frames = torch.randint(0, 256, (3, 8, 16, 3), dtype=torch.uint8)
    assert torch.equal(tensor_to_frames(frames_to_tensor(frames)), frames)
    with pytest.raises(ValueError, match="uint8"):
        frames_to_tensor(frames.float())


def test_bad_inputs_name_the_problem():
    vae = VideoVAE(VAEConfig(temporal_factor=2, **TINY))
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        vae.encode(torch.randn(1, 1, 4, 16, 16))
    with pytest.raises(ValueError, match="multiple of 8"):
        vae.encode(torch.randn(1, 1, 3, 81, 117))
    with pytest.raises(ValueError, match="1 \\+ k\\*2 frames"):
        vae.encode(torch.randn(1, 4, 3, 16, 16))
    with pytest.raises(ValueError, match="\\(b, t, 3, H, W\\)"):
        vae.encode(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="latents must be"):
        vae.decode(torch.randn(1, 1, 5, 2, 2))


def test_checkpoint_round_trip_and_errors(tmp_path):
    vae = VideoVAE(VAEConfig(**TINY))
    vae.latent_scale.fill_(2.0)
    path = tmp_path / "vae.safetensors"
    vae.save(path, steps=7, data="recs")
    loaded = VideoVAE.load(path)
    x = torch.randn(1, 2, 3, 16, 16)
    assert torch.equal(loaded.encode(x), vae.eval().encode(x))
    # saving a loaded VAE again (shipping a world) keeps how it was trained; new values override
    loaded.save(tmp_path / "again.safetensors")
    assert VideoVAE.load(tmp_path / "again.safetensors").meta == {"steps": 7, "data": "recs"}
    loaded.save(tmp_path / "again.safetensors", steps=9)
    assert VideoVAE.load(tmp_path / "again.safetensors").meta == {"steps": 9, "data": "recs"}
    with pytest.raises(CheckpointError, match="latent_channels"):
        VideoVAE.load(path, expect=VAEConfig(**{**TINY, "latent_channels": 8}))
    with pytest.raises(CheckpointError, match="not found"):
        VideoVAE.load(tmp_path / "missing.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        VideoVAE.load(tmp_path / "cut.safetensors")
    # a future format version
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["format_version"] = "99"
    raw = json.dumps(header).encode()
    raw += b" " * (n - len(raw)) if len(raw) <= n else b""
    if len(raw) == n:
        (tmp_path / "future.safetensors").write_bytes(data[:8] + raw + data[8 + n :])
        with pytest.raises(CheckpointError, match="newer"):
            VideoVAE.load(tmp_path / "future.safetensors")
    from model.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(1)}, "SpacetimeDiT")
    with pytest.raises(CheckpointError, match="expected 'VideoVAE'"):
        VideoVAE.load(tmp_path / "other.safetensors")


def test_a_few_training_steps_lower_the_loss(tmp_path):
    from model.vae_training import TrainVAEConfig, train
    from worldenv.collect import CollectConfig, collect

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=2, workers=1, max_steps=64,
                          area=(32, 32), size=(64, 64)), progress=False)
    cfg = TrainVAEConfig(data=str(data), out=str(tmp_path / "run"), steps=60, batch_size=8, lr=5e-3, warmup=5,
                         ckpt_every=30, log_every=10, progress=False, vae=VAEConfig(**TINY))
    final = train(cfg)
    rows = [line.split(",") for line in (tmp_path / "run" / "log.csv").read_text().splitlines()]
    loss = [float(r[rows[0].index("loss")]) for r in rows[1:]]
    assert loss[-1] < 0.7 * loss[0]
    vae = VideoVAE.load(final)
    z = vae.encode(torch.randn(4, 1, 3, 64, 64))
    assert np.isfinite(z.detach().numpy()).all()
    # resume continues from the saved step and keeps the optimizer state
    cfg.steps, cfg.resume = 70, True
    train(cfg)
    assert (tmp_path / "run" / "log.csv").read_text().splitlines()[-1].split(",")[1] == "70"


def test_decoder_only_finetune_keeps_the_latent_space(tmp_path):
    from model.vae_training import TrainVAEConfig, train
    from worldenv.collect import CollectConfig, collect

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=4, workers=1, max_steps=32,
                          area=(32, 32), size=(64, 64)), progress=False)
    base = VideoVAE(VAEConfig(**TINY))
    base.latent_scale.fill_(3.0)
    base.save(tmp_path / "base.safetensors")
    final = train(TrainVAEConfig(data=str(data), out=str(tmp_path / "dec"), steps=5, batch_size=4, progress=False,
                                 init=str(tmp_path / "base.safetensors"), decoder_only=True))
    tuned = VideoVAE.load(final)
    x = torch.randn(2, 1, 3, 64, 64)
    assert torch.equal(tuned.encode(x), base.eval().encode(x))  # same latents
    assert not torch.equal(tuned.decode(base.encode(x)), base.decode(base.encode(x)))  # new decoder
    with pytest.raises(SystemExit, match="needs --init"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, decoder_only=True, progress=False))


def test_checkpoints_of_the_removed_grown_decoder_load_only_when_it_was_off(tmp_path):
    """VAEs written before the grown decoder was removed store `decoder_channels` / `decoder_blocks`
    (the shipped one among them, at [] and 0): those load; a grown decoder is refused by name; a
    checkpoint without the fields (older still) loads too."""
    from model.checkpoint import save_checkpoint

    vae = VideoVAE(VAEConfig(**TINY))
    base = {k: list(v) if isinstance(v, tuple) else v for k, v in vae.cfg.__dict__.items()}
    for extra in ({}, {"decoder_channels": [], "decoder_blocks": 0}):
        save_checkpoint(tmp_path / "old.safetensors", vae.state_dict(), "VideoVAE", {**base, **extra})
        assert VideoVAE.load(tmp_path / "old.safetensors").cfg == vae.cfg
    for field, value in (("decoder_blocks", 3), ("decoder_channels", [16, 16, 24])):
        save_checkpoint(tmp_path / "grown.safetensors", vae.state_dict(), "VideoVAE",
                        {**base, "decoder_channels": [], "decoder_blocks": 0, field: value})
        with pytest.raises(CheckpointError, match=f"VAEConfig.{field} = .* a grown decoder.*removed"):
            VideoVAE.load(tmp_path / "grown.safetensors")
    from pathlib import Path

    shipped = VideoVAE.load(Path(__file__).resolve().parents[1] / "worldenv/worlds/crafter72/vae.safetensors")
    assert shipped.cfg == VAEConfig(latent_channels=16, channels=(32, 64, 128))
