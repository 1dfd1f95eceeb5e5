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
    from collect import CollectConfig, collect
    from train_vae import TrainVAEConfig, train

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=2, workers=1, max_steps=64,
                          area=(32, 32)), progress=False)
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
    from collect import CollectConfig, collect
    from train_vae import TrainVAEConfig, train

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=4, workers=1, max_steps=32,
                          area=(32, 32)), progress=False)
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


def test_grown_decoder_starts_as_the_old_one_and_keeps_the_encoder():
    torch.manual_seed(0)
    base = VideoVAE(VAEConfig(**TINY)).eval()
    with torch.no_grad():  # wake the zero-initialised residual branches so every layer matters
        for p in base.parameters():
            p.add_(0.05 * torch.randn_like(p))
    grown = base.with_new_decoder((), 3).eval()
    assert grown.cfg.decoder_depth == 3 and len(grown.decoder.net) > len(base.decoder.net)
    x = torch.randn(2, 3, 3, 16, 24)
    z = base.encode(x)
    assert torch.equal(grown.encode(x), z)
    torch.testing.assert_close(grown.decode(z), base.decode(z))  # added blocks start as the identity
    # other widths: a fresh decoder on the same encoder
    wide = base.with_new_decoder((16, 16, 24), 1).eval()
    assert torch.equal(wide.encode(x), z)
    assert wide.decode(z).shape == x.shape and not torch.allclose(wide.decode(z), base.decode(z))
    assert wide.from_latent_first.out_channels == 24


def test_old_checkpoints_without_decoder_fields_load(tmp_path):
    from model.checkpoint import save_checkpoint

    vae = VideoVAE(VAEConfig(**TINY))
    old_config = {k: v for k, v in vae.cfg.__dict__.items() if not k.startswith("decoder")}
    save_checkpoint(tmp_path / "old.safetensors", vae.state_dict(), "VideoVAE", old_config)
    loaded = VideoVAE.load(tmp_path / "old.safetensors")
    assert loaded.cfg.decoder_widths == TINY["channels"] and loaded.cfg.decoder_depth == 1
    with pytest.raises(ValueError, match="decoder_channels"):
        VAEConfig(decoder_channels=(8, 16))


def test_new_decoder_run_grows_the_decoder_and_keeps_the_latent_space(tmp_path):
    from collect import CollectConfig, collect
    from train_vae import TrainVAEConfig, parse_args, train

    data = tmp_path / "rec"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=4, workers=1, max_steps=32,
                          area=(32, 32)), progress=False)
    base = VideoVAE(VAEConfig(**TINY))
    base.save(tmp_path / "base.safetensors")
    cfg = parse_args(["--data", str(data), "--out", str(tmp_path / "grow"), "--steps", "6", "--stop-at", "4",
                      "--batch-size", "4",
                      "--no-progress", "--init", str(tmp_path / "base.safetensors"), "--decoder-only",
                      "--new-decoder", "--decoder-blocks", "2"])
    grown = VideoVAE.load(train(cfg))
    assert (tmp_path / "grow" / "log.csv").read_text().splitlines()[-1].split(",")[1] == "4"  # --stop-at
    assert grown.cfg.decoder_depth == 2 and grown.cfg.channels == TINY["channels"]
    x = torch.randn(2, 1, 3, 64, 64)
    assert torch.equal(grown.encode(x), base.eval().encode(x))
    # resume rebuilds the grown model from the same flags and goes on with the schedule of --steps
    cfg = parse_args(["--data", str(data), "--out", str(tmp_path / "grow"), "--steps", "6", "--batch-size", "4",
                      "--no-progress", "--init", str(tmp_path / "base.safetensors"), "--decoder-only",
                      "--new-decoder", "--decoder-blocks", "2", "--resume"])
    train(cfg)
    assert (tmp_path / "grow" / "log.csv").read_text().splitlines()[-1].split(",")[1] == "6"
    with pytest.raises(SystemExit, match="--new-decoder needs"):
        train(TrainVAEConfig(data=str(data), out=str(tmp_path / "x"), steps=1, new_decoder=True, progress=False))
