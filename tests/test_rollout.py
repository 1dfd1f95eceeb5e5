"""DreamRollout options stored with a world: context noise and re-grounding of dreamed frames."""

from contextlib import nullcontext

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError
from model.rollout import DreamRollout, WorldModel


def _start(world):
    return world.start_frames[:1].numpy(), world.start_actions[:1].numpy()


def test_reground_puts_the_encoding_of_the_shown_frame_into_the_context(tiny_world):
    """With reground, stepping equals observing the frame the player was shown; without, it does not."""
    world = WorldModel.load(tiny_world)
    for reground in (True, False):
        dreamer = DreamRollout(world, steps=1, seed=3, context_sigma=0.0, reground=reground)
        dreamer.reset(*_start(world))
        shown = dreamer.step(np.array([2])).frames
        watcher = DreamRollout(world, steps=1, seed=3, context_sigma=0.0)
        watcher.reset(*_start(world))
        watcher.observe(shown, np.array([2]))
        same = all(torch.equal(a, b) for a, b in zip(dreamer.cache.k, watcher.cache.k, strict=True))
        assert same == reground


def test_rollout_settings_come_from_the_world_unless_given(tiny_world):
    world = WorldModel.load(tiny_world)
    assert DreamRollout(world).context_sigma == 0.05 and not DreamRollout(world).reground  # no stored settings
    world.meta["rollout"] = {"context_sigma": 0.15, "reground": True, "guidance": 3.0}
    roll = DreamRollout(world)
    assert roll.context_sigma == 0.15 and roll.reground and roll.guidance == 3.0
    roll = DreamRollout(world, context_sigma=0.0, reground=False, guidance=1.0)
    assert roll.context_sigma == 0.0 and not roll.reground and roll.guidance == 1.0
    with pytest.raises(ValueError, match="context_sigma must be in"):
        DreamRollout(world, context_sigma=1.5)
    world.meta["rollout"] = {"guidance": "strong"}
    with pytest.raises(CheckpointError, match="wrong type"):
        DreamRollout(world)
    world.meta["rollout"] = {"context_sigma": 0.15, "regrund": True}
    with pytest.raises(CheckpointError, match="rollout"):
        DreamRollout(world)


def test_stored_settings_survive_save_and_load(tiny_world, tmp_path):
    world = WorldModel.load(tiny_world)
    world.save(tmp_path / "w", rollout={"context_sigma": 0.1, "reground": True})
    assert WorldModel.load(tmp_path / "w").rollout_defaults == {"context_sigma": 0.1, "reground": True,
                                                                 "guidance": 1.0, "start_sigma": 1.0,
                                                                 "fresh_steps": 1}


def test_same_seed_same_dream_with_regrounding_and_guidance(tiny_world):
    world = WorldModel.load(tiny_world)
    runs = []
    for _ in range(2):
        roll = DreamRollout(world, batch=2, steps=2, seed=7, context_sigma=0.15, reground=True, guidance=3.0)
        roll.reset(world.start_frames[:2].numpy(), world.start_actions[:2].numpy())
        runs.append(np.stack([roll.step(np.array([a, 16 - a])).frames for a in range(6)]))
    assert np.array_equal(runs[0], runs[1])


def _guided_and_two_pass(world):
    """A 2-dream rollout of `world` after reset, and for one guided Euler step from pure noise:
    the batched result, the conditioned and unconditioned velocities of two separate passes."""
    from model.diffusion import sample_next_frame

    roll = DreamRollout(world, batch=2, bf16=False, context_sigma=0.0)
    roll.reset(world.start_frames[[0, 1]].numpy(), world.start_actions[[0, 1]].numpy())
    action = torch.tensor([[3], [5]])
    noise = torch.randn(roll.latent_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = sample_next_frame(world.dit, roll.cache, action, roll.latent_shape, steps=1, guidance=2.5,
                                noise=noise)
        v, _ = world.dit.forward_frame(noise, torch.ones(2), action, roll.cache)
        v0, _ = world.dit.forward_frame(noise, torch.ones(2), torch.full_like(action, -1), roll.cache)
    return roll, noise, action, got, v, v0


def test_guidance_in_one_batched_pass_equals_two_passes(tiny_world):
    """The conditioned and unconditioned copies share one forward through a doubled cache view;
    the guided velocity must be what two separate passes give."""
    roll, noise, _, got, v, v0 = _guided_and_two_pass(WorldModel.load(tiny_world))
    assert torch.allclose(got, noise - (v0 + 2.5 * (v - v0)), atol=1e-5)
    assert not torch.allclose(got, noise - v, atol=1e-3)  # guidance did change the frame
    with pytest.raises(RuntimeError, match="read only"):
        roll.cache.doubled().stage(0, (None, None))


def test_previous_frame_world_rolls_out_guides_and_restarts_rows(tmp_path):
    """A world whose DiT embeds the previous frame (DiTConfig.prev_frame): the cache hands each
    new frame its predecessor, through the doubled view for guidance and across reset_rows."""
    from conftest import build_tiny_world

    world = WorldModel.load(build_tiny_world(tmp_path / "prev", prev_frame=True))
    assert world.dit.cfg.prev_frame
    roll, noise, action, got, v, v0 = _guided_and_two_pass(world)
    with torch.no_grad():  # the previous frame is an input: another one changes the prediction
        roll.cache._last = roll.cache.last() + 1.0
        v_other, _ = world.dit.forward_frame(noise, torch.ones(2), action, roll.cache)
    assert torch.allclose(got, noise - (v0 + 2.5 * (v - v0)), atol=1e-5)
    assert not torch.allclose(v, v_other, atol=1e-4)
    for _ in range(3):
        roll.step(np.array([[1], [2]]))
    clip, acts = world.start_frames[[2]].numpy(), world.start_actions[[2]].numpy()
    kept = roll.cache.last()[0].clone()
    roll.reset_rows([1], clip, acts)
    with torch.no_grad():
        encoded = world.vae.encode_images(torch.as_tensor(clip[0, -1:]))
    assert torch.allclose(roll.cache.last()[1], encoded, atol=1e-5)  # the restarted row's newest frame
    assert torch.equal(roll.cache.last()[0], kept)  # the other row keeps its own


def test_previous_frame_is_the_noisy_latent_the_cache_holds(tmp_path):
    """With context noise, the next frame's previous-frame input is the noised latent that was
    written to the cache (as in training windows), not the clean encoding."""
    from conftest import build_tiny_world

    world = WorldModel.load(build_tiny_world(tmp_path / "prev", prev_frame=True))
    roll = DreamRollout(world, batch=1, bf16=False, context_sigma=0.2)
    frames, acts = _start(world)
    roll.reset(frames, acts)
    with torch.no_grad():
        clean = world.vae.encode_images(torch.as_tensor(frames[0, -1:]))
    noise = (roll.cache.last()[0] - 0.8 * clean) / 0.2
    assert not torch.allclose(roll.cache.last()[0], clean, atol=1e-2)
    assert 0.7 < float(noise.std()) < 1.3  # what was added is unit Gaussian noise at sigma 0.2


def _moves_world(tmp_path):
    from conftest import build_tiny_world

    world = WorldModel.load(build_tiny_world(tmp_path / "moves", size=(72, 72), view_moves=True, view_rows=7))
    left = next(a for a, dx, dy in world.dit.cfg.view_moves if dx == -1)
    return world, left


def test_sampling_starts_from_the_previous_frame_moved_with_the_view(tmp_path):
    """start_sigma < 1: the view is drawn from the previous latent moved against the player's step,
    noised to start_sigma; near 0 it is that moved frame, but for the player's cell at the centre,
    which stays. The strip the step brings into view, the cell the player stepped off and the
    inventory rows below the view are drawn from noise; a dream that did not move keeps its view in
    place; at start_sigma 1 nothing is kept."""
    world, left = _moves_world(tmp_path)
    frames, acts = world.start_frames[:2].numpy(), world.start_actions[:2].numpy()
    rows = world.dit.cfg.view_rows
    got = {}
    for start_sigma in (0.01, 1.0):
        roll = DreamRollout(world, batch=2, steps=2, bf16=False, context_sigma=0.0, reground=False,
                            start_sigma=start_sigma)
        roll.reset(frames, acts)
        roll.last_z[:, ..., rows // 2, roll.last_z.shape[-1] // 2] += 1.0  # a player cell unlike its neighbours
        prev = roll.last_z.clone()
        roll.step(np.array([left, 0]))  # dream 0 steps left, dream 1 does nothing
        got[start_sigma] = (roll.last_z, world.dit.moved(prev, torch.tensor([[[left]], [[0]]])), prev)
    new, moved, prev = got[0.01]
    assert not torch.allclose(moved[0], prev[0], atol=0.1) and torch.equal(moved[1], prev[1])
    # the player stays at the centre of the view's rows: its cell keeps the previous frame's, and the
    # cell it stepped off (right of it, after a left step) shows ground never seen, drawn like the strip
    cy, cx = rows // 2, new.shape[-1] // 2
    guess = moved.clone()
    guess[0, ..., cy, cx] = prev[0, ..., cy, cx]
    kept = torch.ones(new.shape[-2:], dtype=torch.bool)
    kept[rows:], kept[:, 0] = False, False  # a left step brings column 0 into view (moved repeats the edge)
    drawn = kept.clone()
    drawn[cy, cx + 1] = False
    assert torch.allclose(new[0, ..., drawn], guess[0, ..., drawn], atol=0.1)
    assert torch.allclose(new[1, ..., kept], prev[1, ..., kept], atol=0.1)
    assert not torch.allclose(moved[0, ..., cy, cx], prev[0, ..., cy, cx], atol=0.1)
    assert not torch.allclose(new[0, ..., cy, cx + 1], guess[0, ..., cy, cx + 1], atol=0.1)
    assert not torch.allclose(new[0, ..., :rows, :1], moved[0, ..., :rows, :1], atol=0.1)
    assert torch.allclose(new[1, ..., :rows, :1], prev[1, ..., :rows, :1], atol=0.1)  # no step: all kept
    assert not torch.allclose(new[..., rows:, :], moved[..., rows:, :], atol=0.1)  # inventory is drawn
    new, moved, _ = got[1.0]
    assert not torch.allclose(new[..., :rows, 1:], moved[..., :rows, 1:], atol=0.1)


def test_one_step_draws_every_frame_from_noise_and_bad_start_sigma_is_refused(tmp_path):
    from model.diffusion import sample_next_frame

    world, left = _moves_world(tmp_path)
    frames, acts = _start(world)
    out = []
    for start_sigma in (0.3, 1.0):
        with pytest.warns(UserWarning, match="2 or more denoising steps") if start_sigma < 1 else nullcontext():
            roll = DreamRollout(world, steps=1, seed=4, bf16=False, start_sigma=start_sigma)
        roll.reset(frames, acts)
        out.append(roll.step(np.array([left])).frames)
    assert np.array_equal(out[0], out[1])
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="start_sigma must be in"):
            DreamRollout(world, start_sigma=bad)
    world.meta["rollout"] = {"start_sigma": 0.0}
    with pytest.raises(CheckpointError, match="start_sigma in"):
        DreamRollout(world)
    with pytest.raises(ValueError, match="needs a start frame"):
        sample_next_frame(world.dit, roll.cache, torch.tensor([[left]]), roll.latent_shape, start_sigma=0.5)
    with pytest.raises(ValueError, match="steps >= fresh_steps"):
        sample_next_frame(world.dit, roll.cache, torch.tensor([[left]]), roll.latent_shape, steps=1,
                          start=roll.last_z, start_sigma=0.5, start_mask=roll._start_mask(torch.tensor([[left]])))


class _StillModel:
    """A stand-in DiT that predicts zero velocity and records the noise levels it is asked at."""

    def __init__(self):
        self.sigmas = []

    def forward_frame(self, z, sigma, action, cache, stay=None):
        self.sigmas.append(round(float(sigma[0]), 4))
        return torch.zeros_like(z), None


@pytest.mark.parametrize("steps", [2, 3])
def test_the_guess_enters_at_start_sigma_after_a_first_step_from_pure_noise(steps):
    """With a mask, step 1 runs at sigma 1 over the whole frame, then the guessed cells become
    (1 - s) * guess + s * noise and the rest of the schedule runs from s; without one, the schedule
    starts at s. A model that never moves z makes the inserted values visible."""
    from model.diffusion import sample_next_frame

    shape, s = (1, 1, 2, 3, 3), 0.3
    noise, guess = torch.randn(shape), torch.randn(shape)
    mask = torch.zeros(1, 1, 1, 3, 3, dtype=torch.bool)
    mask[..., :2, :] = True
    model = _StillModel()
    z = sample_next_frame(model, None, torch.zeros(1, 1, dtype=torch.long), shape, steps=steps, noise=noise,
                          start=guess, start_sigma=s, start_mask=mask)
    assert model.sigmas == [1.0] + [round(s * (1 - i / (steps - 1)), 4) for i in range(steps - 1)]
    assert torch.allclose(z, torch.where(mask, (1 - s) * guess + s * noise, noise))
    model = _StillModel()
    z = sample_next_frame(model, None, torch.zeros(1, 1, dtype=torch.long), shape, steps=steps, noise=noise,
                          start=guess, start_sigma=s)
    assert model.sigmas == [round(s * (1 - i / steps), 4) for i in range(steps)]
    assert torch.allclose(z, (1 - s) * guess + s * noise)


def test_fresh_steps_walk_the_unguessed_cells_down_to_start_sigma_before_the_guess_enters():
    """fresh_steps = 2 of 4: sigma 1 and 0.65 over the whole frame (the guess is not in yet), then
    the guessed cells enter at 0.3 and two steps go 0.3 -> 0.15 -> 0."""
    from model.diffusion import sample_next_frame

    shape, s = (1, 1, 2, 3, 3), 0.3
    noise, guess = torch.randn(shape), torch.randn(shape)
    mask = torch.zeros(1, 1, 1, 3, 3, dtype=torch.bool)
    mask[..., :2, :] = True
    model = _StillModel()
    z = sample_next_frame(model, None, torch.zeros(1, 1, dtype=torch.long), shape, steps=4, noise=noise,
                          start=guess, start_sigma=s, start_mask=mask, fresh_steps=2)
    assert model.sigmas == [1.0, 0.65, 0.3, 0.15]
    assert torch.allclose(z, torch.where(mask, (1 - s) * guess + s * noise, noise))
    with pytest.raises(ValueError, match="steps >= fresh_steps"):
        sample_next_frame(model, None, torch.zeros(1, 1, dtype=torch.long), shape, steps=2, noise=noise,
                          start=guess, start_sigma=s, start_mask=mask, fresh_steps=2)


def test_a_world_without_moves_warns_when_started_from_the_previous_frame(tiny_world):
    with pytest.warns(UserWarning, match="does not know the moves"):
        DreamRollout(WorldModel.load(tiny_world), start_sigma=0.5)


def test_the_guess_is_the_clean_latent_not_the_noised_one_in_the_cache(tmp_path):
    world, _ = _moves_world(tmp_path)
    frames, acts = _start(world)
    roll = DreamRollout(world, bf16=False, context_sigma=0.2)
    roll.reset(frames, acts)
    with torch.no_grad():
        clean = world.vae.encode_images(torch.as_tensor(frames[0, -1:]))[:, None]
    assert torch.allclose(roll.last_z, clean, atol=1e-5)
    assert not torch.allclose(roll.cache.last(), clean, atol=1e-2)
