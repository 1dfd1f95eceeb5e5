"""The previous-frame prior (DiTConfig.prev_prior): an untrained model repeats the last frame, the
window and the KV cache agree, the velocity stays finite, training lowers the loss, bad settings are named."""

import numpy as np
import pytest
import torch
from conftest import flow_losses

from model.diffusion import sample_next_frame
from model.dit import DiTConfig, KVCache, SpacetimeDiT
from model.prev_prior import prior_velocity

TINY = dict(latent_channels=4, patch=2, dim=32, depth=2, heads=2, window=6, action_nvec=(17,))


def test_an_untrained_model_draws_the_previous_frame():
    """Zero-initialised output: one Euler step from pure noise lands on the previous frame
    (written clean), whatever the noise; with more steps it stays near it."""
    torch.manual_seed(0)
    m = SpacetimeDiT(DiTConfig(**TINY, prev_frame=True, prev_prior=0.3)).eval()
    plain = SpacetimeDiT(DiTConfig(**TINY, prev_frame=True)).eval()
    prev = torch.randn(2, 1, 4, 8, 8)
    a = torch.tensor([[3], [5]])
    out = {}
    with torch.no_grad():
        for name, model in (("prior", m), ("plain", plain)):
            cache = KVCache(3)
            model.forward_frame(prev, torch.zeros(2), a, cache, write=True)
            out[name] = [sample_next_frame(model, cache, a, (2, 1, 4, 8, 8), steps=s,
                                           generator=torch.Generator().manual_seed(s)) for s in (1, 4)]
    assert torch.allclose(out["prior"][0], prev, atol=1e-5)
    assert (out["prior"][1] - prev).pow(2).mean() < 0.1 * prev.pow(2).mean()
    # without the prior the same untrained model draws the noise back (velocity 0), not the frame
    assert (out["plain"][0] - prev).pow(2).mean() > prev.pow(2).mean()


@pytest.mark.parametrize("context_sigma", [0.0, 0.1])
def test_kv_cache_matches_the_full_window(context_sigma):
    """The cache hands the next frame its previous frame's noise level, as the window does."""
    torch.manual_seed(0)
    m = SpacetimeDiT(DiTConfig(**TINY, prev_frame=True, prev_prior=0.4)).eval()
    for p in m.parameters():  # zero-initialised output layers would hide bugs: perturb everything
        p.data += 0.05 * torch.randn_like(p)
    b, T = 2, 4
    z = torch.randn(b, T, 4, 8, 8)
    a = torch.randint(0, 17, (b, T, 1))
    sigma = torch.full((b, T), context_sigma)
    sigma[:, -1] = 0.6
    with torch.no_grad():
        v_full, h_full = m(z, sigma, a)
        cache = KVCache(5)
        for t in range(T - 1):
            m.forward_frame(z[:, t : t + 1], sigma[:, t], a[:, t], cache, write=True)
        v, h = m.forward_frame(z[:, -1:], sigma[:, -1], a[:, -1], cache)
        doubled, _ = m.forward_frame(z[:, -1:].repeat(2, 1, 1, 1, 1), sigma[:, -1].repeat(2),
                                     a[:, -1].repeat(2, 1), cache.doubled())
    assert torch.allclose(v, v_full[:, -1:], atol=1e-4) and torch.allclose(h, h_full[:, -1:], atol=1e-4)
    assert torch.allclose(doubled[:b], v, atol=1e-5) and torch.allclose(doubled[b:], v, atol=1e-5)
    assert torch.allclose(cache.last_sigma(), torch.full((b,), context_sigma))


def test_the_velocity_is_finite_and_its_target_has_unit_scale():
    """At every noise level, including clean (s = 0) and pure noise, for a clean or noisy previous
    frame; drawn from the prior, the network's ideal output has unit variance."""
    torch.manual_seed(0)
    tau, n = 0.3, 200_000
    for sp in (0.0, 0.2, 1.0):
        for s in (0.0, 0.05, 0.5, 1.0):
            x_prev = torch.randn(n)
            x0 = x_prev + tau * torch.randn(n)
            prev = (1 - sp) * x_prev + sp * torch.randn(n) if sp < 1 else torch.zeros(n)
            eps = torch.randn(n)
            z = (1 - s) * x0 + s * eps
            shape = lambda x: x.view(1, 1, 1, 1, n)  # noqa: E731  (b t c h w)
            sig, psig = torch.full((1, 1), s), torch.full((1, 1), sp)
            v0 = prior_velocity(torch.zeros(1, 1, 1, 1, n), shape(z), sig, shape(prev), psig, tau)
            slope = v0 - prior_velocity(torch.ones(1, 1, 1, 1, n), shape(z), sig, shape(prev), psig, tau)
            assert torch.isfinite(v0).all() and torch.isfinite(slope).all()
            ideal = (v0 - shape(eps - x0)) / slope  # the output F that makes v the true velocity
            if s > 0:  # at s = 0 the true velocity is not defined by z: there is nothing to check
                assert 0.9 < float(ideal.var()) < 1.1, (sp, s, float(ideal.var()))


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    m = SpacetimeDiT(DiTConfig(**TINY, prev_frame=True, prev_prior=0.3))
    base = torch.randn(16, 1, 4, 8, 8)  # each frame is the previous one shifted right by its action
    acts = torch.randint(0, 2, (16, 5, 1))
    frames = [base]
    for t in range(1, 5):
        frames.append(torch.where(acts[:, t, :, None, None, None] == 1, torch.roll(frames[-1], 1, -1), frames[-1]))
    losses = flow_losses(m, torch.cat(frames, 1), acts, 150)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="needs prev_frame"):
        DiTConfig(**TINY, prev_prior=0.3)
    with pytest.raises(ValueError, match="prev_prior must be a finite std"):
        DiTConfig(**TINY, prev_frame=True, prev_prior=-0.1)
    from model.world_training import parse_args

    with pytest.raises(SystemExit, match="add --prev-frame"):
        parse_args(["--latents", str(tmp_path), "--prev-prior", "0.3"])


def test_a_checkpoint_keeps_the_prior(tmp_path):
    m = SpacetimeDiT(DiTConfig(**TINY, prev_frame=True, prev_prior=0.25))
    m.save(tmp_path / "dit.safetensors")
    loaded, _ = SpacetimeDiT.load(tmp_path / "dit.safetensors")
    assert loaded.cfg.prev_prior == 0.25
