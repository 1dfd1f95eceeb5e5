"""The tile-class loss, checked against the game's own renderer and semantic map."""

import numpy as np
import pytest
import torch
from test_crafter_parse import _render, _scene

from model.tile_template_loss import GREY_COLOUR, TileTemplateLoss
from model.vae import VAEConfig, VideoVAE
from worldenv.games.crafter.night import NIGHT_COLOUR, CrafterNight
from worldenv.games.crafter.parse import LUMA, NIGHT_TINT, SLEEP_TINT, CrafterFrameParser
from worldenv.games.crafter.replay import GRAIN_MEAN, grain_at_mean

SIZE, VIEW = (72, 72), (9, 9)


@pytest.fixture(scope="module")
def loss():
    parser = CrafterFrameParser(SIZE, VIEW)
    night = CrafterNight(SIZE, VIEW)
    return TileTemplateLoss(parser.template_images, parser.template_classes, night.box, night.vignette,
                            LUMA, NIGHT_TINT, SLEEP_TINT, GRAIN_MEAN, NIGHT_COLOUR, temperature=4.0)


def _tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


@pytest.fixture(scope="module")
def scenes():
    """Every class in view, rendered by the game with the grain at its mean, at every light."""
    frames, truths, lights, asleep = [], [], [], []
    for corner in (False, True):
        env = _scene(SIZE, VIEW, corner)
        for daylight in (1.0, 0.7, 0.4, 0.2, 0.0):
            for sleeping in (False, True):
                with grain_at_mean():
                    frame, truth = _render(env, daylight, sleeping, (0, 1), VIEW)
                frames.append(frame)
                truths.append(truth)
                lights.append(daylight)
                asleep.append(sleeping)
    return (_tensor(np.stack(frames)), torch.tensor(lights), torch.tensor(asleep),
            torch.from_numpy(np.stack(truths)))


def test_the_templates_are_lit_as_the_game_lights_them(loss, scenes):
    frames, light, asleep, truth = scenes
    msd = -loss.logits(frames, light, asleep) * loss.temperature**2  # (n, P, K) pixel levels^2
    nearest = msd.min(-1).values
    # every tile is one template drawn at that light: the nearest is it, up to the game's uint8
    # rounding (a pixel level or less)
    assert nearest.max() < 1.0, nearest.max()
    own = loss.member[truth.long().flatten(1)]
    hit = own.gather(-1, msd.argmin(-1, keepdim=True))[..., 0]
    lit = ~asleep & (light >= 0.4)
    assert hit[lit].all()  # by day and at dusk every class is told apart exactly
    assert hit.float().mean() > 0.97  # deep at night the corners keep too little to tell some apart
    ce, acc = loss(frames[lit], light[lit], asleep[lit], truth[lit])
    assert acc == 1.0 and ce < 0.01


def test_an_arrow_smoothed_into_the_grass_costs_and_the_gradient_draws_it_back(loss, scenes):
    frames, light, asleep, truth = scenes
    day = int(torch.nonzero((light == 1.0) & ~asleep)[0])
    x, m = frames[day : day + 1].clone(), truth[day : day + 1]
    y0, _, x0, _ = loss.box
    u = loss.unit
    arrows = torch.nonzero(m[0] == 17)
    assert len(arrows), "the scene has arrows"
    r, c = (int(v) for v in arrows[0])
    grass = torch.nonzero(m[0] == 2)[0]  # a plain grass tile
    gr, gc = (int(v) for v in grass)
    args = (torch.ones(1), torch.zeros(1, dtype=torch.bool), m)
    base, _ = loss(x, *args)
    smooth = x.clone()
    smooth[..., y0 + r * u : y0 + (r + 1) * u, x0 + c * u : x0 + (c + 1) * u] = \
        x[..., y0 + gr * u : y0 + (gr + 1) * u, x0 + gc * u : x0 + (gc + 1) * u]
    ce, acc = loss(smooth, *args)
    assert ce > base + 1.0 and acc < 1.0  # one tile of 63 misread: a large mean cost
    # the loss's gradient on the pixels alone draws the arrow back
    px = smooth.clone().requires_grad_(True)
    opt = torch.optim.Adam([px], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss(px, *args)[0].backward()
        opt.step()
    ce2, acc2 = loss(px.detach(), *args)
    assert acc2 == 1.0 and ce2 < ce / 10


def test_the_expanded_distance_is_the_weighted_distance():
    """_msd's matrix products against the weighted squared distance written out, awake (two
    template terms) and asleep (one), with random per-component weights and lighting."""
    g = torch.Generator().manual_seed(0)
    n, P, uu, K = 2, 3, 4, 5
    r = torch.rand(n, P, uu, 3, generator=g, dtype=torch.float64) * 255
    w = torch.rand(n, P, uu, 3, generator=g, dtype=torch.float64) * 16
    alpha = torch.rand(n, P, uu, 1, generator=g, dtype=torch.float64)
    beta = torch.rand(n, P, uu, 1, generator=g, dtype=torch.float64)
    c1, c2 = (torch.rand(K, uu * 3, generator=g, dtype=torch.float64) * 100 for _ in range(2))
    basis = GREY_COLOUR.double()
    rb = (r @ basis.T).reshape(n, P, 1, uu * 3)
    wf = w.reshape(n, P, 1, uu * 3)
    af, bf = (v.expand(n, P, uu, 3).reshape(n, P, 1, uu * 3) for v in (alpha, beta))
    for second in (c2, None):
        template = af * c1 + (bf * second if second is not None else 0)  # (n, P, K, uu 3)
        want = (wf * (rb - template) ** 2).mean(-1)
        got = TileTemplateLoss._msd(r, w, alpha, beta, c1, second, basis=basis)
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-6)


def test_night_factors_separate_dark_templates_and_the_copy_sets_the_floor(loss, scenes):
    frames, light, asleep, truth = scenes
    night = CrafterNight(SIZE, VIEW)
    gain = torch.from_numpy(night.contrast_gains(light.numpy(), asleep.numpy()))  # (n, vh, vw, 2)
    factor = torch.ones_like(frames)
    y0, y1, x0, x1 = night.box
    view = torch.where(gain > 0, 1 / gain.clamp_min(1 / 16), torch.ones_like(gain)).permute(0, 3, 1, 2)
    factor[:, :, y0:y1, x0:x1] = view[:, [0, 1, 1]]  # grey, then both colour axes (CanvasWeights)
    dark = ~asleep & (light < 0.1)
    plain, _ = loss(frames[dark], light[dark], asleep[dark], truth[dark])
    weighted, _ = loss(frames[dark], light[dark], asleep[dark], truth[dark], factor[dark])
    assert weighted < plain / 4  # measured on the undarkened canvas, dark templates are told apart
    # the game's own frame as the reference: what it leaves unseparated is not asked for
    args = (light[dark], asleep[dark], truth[dark], factor[dark])
    assert loss(frames[dark], *args, reference=frames[dark])[0] == 0
    blurred = torch.nn.functional.avg_pool2d(frames[dark], 3, 1, 1, count_include_pad=False)
    over, _ = loss(blurred, *args, reference=frames[dark])
    assert 0 < over <= loss(blurred, *args)[0]


def test_the_training_loss_adds_it_at_its_weight(loss, scenes):
    from train_vae import TrainVAEConfig, vae_loss  # scripts/ is on the path (conftest)

    frames, light, asleep, truth = scenes
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig(channels=(8, 8, 16), latent_channels=4))
    x = frames[:4, None]  # (b, t, 3, H, W)
    got = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(1)  # the same latent sample
        got[weight] = vae_loss(vae, x, TrainVAEConfig(tile_class_weight=weight), tile_class=loss,
                               light=(light[:4], asleep[:4], truth[:4]))
    (l0, s0), (l2, s2) = got[0.0], got[2.0]
    assert s0["tile_ce"] == s2["tile_ce"] > 0
    assert torch.isclose(l2 - l0, torch.tensor(2 * s2["tile_ce"]), rtol=1e-4)


def test_bad_input_names_the_problem(loss, scenes):
    frames, light, asleep, truth = scenes
    with pytest.raises(ValueError, match="tile classes must be in"):
        loss(frames[:1], light[:1], asleep[:1], truth[:1] + 40)
    with pytest.raises(ValueError, match="tile maps must be 7x9"):
        loss(frames[:1], light[:1], asleep[:1], truth[:1, :5])
    with pytest.raises(ValueError, match="temperature"):
        TileTemplateLoss(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 1]), (0, 56, 0, 72),
                         np.zeros((56, 72)), LUMA, NIGHT_TINT, SLEEP_TINT, GRAIN_MEAN, NIGHT_COLOUR, temperature=0)
    with pytest.raises(ValueError, match="must tile the local view"):
        TileTemplateLoss(np.zeros((2, 7, 7, 3), np.uint8), np.array([0, 1]), (0, 56, 0, 72),
                         np.zeros((56, 72)), LUMA, NIGHT_TINT, SLEEP_TINT, GRAIN_MEAN, NIGHT_COLOUR)
