"""SpacetimeDiT, rectified flow and KV-cache rollout: shapes, masks, cache equivalence, bad input, learning."""

import numpy as np
import pytest
import torch
from conftest import flow_losses

from model.checkpoint import CheckpointError
from model.diffusion import FlowConfig, flow_loss, sample_next_frame, sample_window
from model.dit import DiTConfig, KVCache, SpacetimeDiT, preset
from model.latents import patchify, unpatchify

TINY = dict(latent_channels=4, patch=2, dim=32, depth=2, heads=2, window=6, action_nvec=(17,))


def tiny(**kw):
    torch.manual_seed(0)
    m = SpacetimeDiT(DiTConfig(**{**TINY, **kw})).eval()
    for p in m.parameters():  # zero-initialised output layers would hide bugs: perturb everything
        p.data += 0.05 * torch.randn_like(p)
    return m


@pytest.mark.parametrize("h, w", [(8, 8), (10, 16), (4, 6)])
def test_patchify_round_trip_any_size(h, w):
    z = torch.randn(2, 3, 4, h, w)
    assert torch.equal(unpatchify(patchify(z, 2), 2, h, w), z)


@pytest.mark.parametrize("h, w", [(8, 8), (10, 16)])
def test_forward_shapes_native_sizes(h, w):
    m = tiny()
    v, heads = m(torch.randn(2, 5, 4, h, w), torch.rand(2, 5), torch.randint(-1, 17, (2, 5, 1)))
    assert v.shape == (2, 5, 4, h, w) and heads.shape == (2, 5, 3)


def test_causal_mask_hides_the_future_and_full_does_not():
    m = tiny()
    z, s, a = torch.randn(1, 4, 4, 8, 8), torch.rand(1, 4), torch.randint(0, 17, (1, 4, 1))
    z2 = z.clone()
    z2[:, 3] += 1.0
    with torch.no_grad():
        vc, vc2 = m(z, s, a)[0], m(z2, s, a)[0]
        vf, vf2 = m(z, s, a, attention="full")[0], m(z2, s, a, attention="full")[0]
    assert torch.allclose(vc[:, :3], vc2[:, :3], atol=1e-5)
    assert not torch.allclose(vf[:, :3], vf2[:, :3], atol=1e-4)


def test_actions_change_the_prediction():
    m = tiny()
    z, s = torch.randn(1, 3, 4, 8, 8), torch.rand(1, 3)
    with torch.no_grad():
        v1 = m(z, s, torch.tensor([[[1], [2], [3]]]))[0]
        v2 = m(z, s, torch.tensor([[[1], [2], [4]]]))[0]
    assert not torch.allclose(v1[:, 2], v2[:, 2], atol=1e-4)
    assert torch.allclose(v1[:, :2], v2[:, :2], atol=1e-5)


MOVES = ((1, -1, 0), (2, 1, 0), (3, 0, -1), (4, 0, 1))  # Crafter's (action, dx, dy)


@pytest.mark.parametrize("prev_frame, view_moves, view_rows", [(False, (), 0), (True, (), 0), (True, MOVES, 0),
                                                             (True, MOVES, 3)])
def test_kv_cache_matches_the_full_window(prev_frame, view_moves, view_rows):
    m = tiny(prev_frame=prev_frame, view_moves=view_moves, view_rows=view_rows)
    if prev_frame:  # wake the zero-initialised previous-frame inputs so they matter
        torch.nn.init.normal_(m.prev_in.weight, std=0.5)
    if view_moves:
        torch.nn.init.normal_(m.moved_in.weight, std=0.5)
    b, T = 2, 4
    z = torch.randn(b, T, 4, 8, 8)
    a = torch.tensor([[[1], [3], [2], [4]], [[4], [-1], [1], [0]]])  # moves, none and a non-move
    sigma = torch.zeros(b, T)
    sigma[:, -1] = 0.6
    with torch.no_grad():
        v_full, h_full = m(z, sigma, a)
        cache = KVCache(5)
        for t in range(T - 1):
            m.forward_frame(z[:, t : t + 1], torch.zeros(b), a[:, t], cache, write=True)
        v, h = m.forward_frame(z[:, -1:], torch.full((b,), 0.6), a[:, -1], cache)
    assert torch.allclose(v, v_full[:, -1:], atol=1e-4) and torch.allclose(h, h_full[:, -1:], atol=1e-4)


def test_a_cache_row_copied_in_is_read_by_the_next_pass():
    """copy_rows after reads (which keep the rotated keys) must not leave the old row's keys in use:
    the restarted row then answers exactly as the cache it was copied from."""
    m = tiny()
    a, b = KVCache(3), KVCache(3)
    with torch.no_grad():
        for t in range(4):
            m.forward_frame(torch.randn(2, 1, 4, 8, 8), torch.zeros(2), torch.tensor([[1], [2]]), a, write=True)
            m.forward_frame(torch.randn(1, 1, 4, 8, 8), torch.zeros(1), torch.tensor([[t]]), b, write=True)
        z, s = torch.randn(2, 1, 4, 8, 8), torch.full((2,), 0.5)
        before, _ = m.forward_frame(z, s, torch.tensor([[5], [5]]), a)  # reads and keeps rotated keys
        a.copy_rows([1], b)
        after, _ = m.forward_frame(z, s, torch.tensor([[5], [5]]), a)
        alone, _ = m.forward_frame(z[1:], s[1:], torch.tensor([[5]]), b)
    assert torch.allclose(after[0], before[0]) and not torch.allclose(after[1], before[1], atol=1e-4)
    assert torch.allclose(after[1], alone[0], atol=1e-5)


def test_a_doubled_view_follows_writes_to_its_cache():
    """A doubled view kept across a write reads the cache as it is now, like a fresh view."""
    m = tiny()
    cache = KVCache(3)
    with torch.no_grad():
        for t in range(2):
            m.forward_frame(torch.randn(1, 1, 4, 8, 8), torch.zeros(1), torch.tensor([[t]]), cache, write=True)
        view = cache.doubled()
        z, s, a = torch.randn(2, 1, 4, 8, 8), torch.full((2,), 0.5), torch.tensor([[5], [-1]])
        m.forward_frame(z, s, a, view)  # fills the view's copies
        m.forward_frame(torch.randn(1, 1, 4, 8, 8), torch.zeros(1), torch.tensor([[2]]), cache, write=True)
        kept, _ = m.forward_frame(z, s, a, view)
        fresh, _ = m.forward_frame(z, s, a, cache.doubled())
    assert torch.equal(kept, fresh)


def test_ring_buffer_keeps_memory_constant():
    m = tiny()
    cache = KVCache(3)
    with torch.no_grad():
        for t in range(10):
            m.forward_frame(torch.randn(1, 1, 4, 8, 8), torch.zeros(1), torch.tensor([[t % 17]]), cache, write=True)
            if t >= 2:
                assert cache.frames == 3
    assert cache.k[0].shape[2] == 3 * 17  # 3 frames x (1 action + 16 patches)


def test_bad_inputs_are_named():
    m = tiny()
    z, s = torch.randn(1, 2, 4, 8, 8), torch.rand(1, 2)
    with pytest.raises(ValueError, match="out of range"):
        m(z, s, torch.tensor([[[3], [17]]]))
    with pytest.raises(ValueError, match="actions must have shape"):
        m(z, s, torch.tensor([[3, 4]]))
    with pytest.raises(ValueError, match="int64"):
        m(z, s, torch.tensor([[[3.0], [4.0]]]))
    with pytest.raises(ValueError, match="longer than the model's"):
        m(torch.randn(1, 7, 4, 8, 8), torch.rand(1, 7), torch.zeros(1, 7, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="4 channels"):
        m(torch.randn(1, 2, 3, 8, 8), s, torch.zeros(1, 2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible by the patch"):
        m(torch.randn(1, 2, 4, 9, 8), s, torch.zeros(1, 2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="without captions"):
        m(z, s, torch.zeros(1, 2, 1, dtype=torch.long), captions=torch.randn(1, 3, 8))
    mc = tiny(caption_dim=8, max_caption_tokens=4)
    with pytest.raises(ValueError, match="at most 4"):
        mc(z, s, torch.zeros(1, 2, 1, dtype=torch.long), captions=torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match="unknown DiT preset"):
        preset("XXL")


def test_captions_condition_and_stay_causal():
    m = tiny(caption_dim=8, max_caption_tokens=4)
    z, s, a = torch.randn(1, 3, 4, 8, 8), torch.rand(1, 3), torch.zeros(1, 3, 1, dtype=torch.long)
    with torch.no_grad():
        v1 = m(z, s, a, captions=torch.randn(1, 4, 8))[0]
        v2 = m(z, s, a, captions=torch.randn(1, 2, 8))[0]
    assert v1.shape == v2.shape and not torch.allclose(v1, v2, atol=1e-4)


def test_checkpoint_round_trip_and_config_mismatch(tmp_path):
    m = tiny()
    m.save(tmp_path / "dit.safetensors", dtype=torch.bfloat16, steps=3)
    loaded, meta = SpacetimeDiT.load(tmp_path / "dit.safetensors")
    assert meta["steps"] == 3 and loaded.cfg == m.cfg
    with pytest.raises(CheckpointError, match="dim"):
        SpacetimeDiT.load(tmp_path / "dit.safetensors", expect=DiTConfig(**{**TINY, "dim": 64}))


def test_the_action_space_is_named_and_removed_fields_load_only_when_off(tmp_path):
    """DiTConfig has no default action space (a game fact); a checkpoint written before the outcome
    tokens were removed stores `outcomes`: false loads as before, true is refused by name."""
    import json

    from safetensors import safe_open

    from model.checkpoint import save_checkpoint

    with pytest.raises(TypeError, match="action_nvec"):
        DiTConfig(latent_channels=4)
    m = tiny()
    config = {**json.loads(json.dumps(m.cfg.__dict__)), "outcomes": False}
    save_checkpoint(tmp_path / "old.safetensors", m.state_dict(), "SpacetimeDiT", config)
    loaded, _ = SpacetimeDiT.load(tmp_path / "old.safetensors")
    assert loaded.cfg == m.cfg
    save_checkpoint(tmp_path / "on.safetensors", m.state_dict(), "SpacetimeDiT", {**config, "outcomes": True})
    with pytest.raises(CheckpointError, match="outcomes = True uses outcome tokens.*removed"):
        SpacetimeDiT.load(tmp_path / "on.safetensors")
    with pytest.raises(CheckpointError, match=r"unknown DiTConfig fields \['colour'\]"):
        save_checkpoint(tmp_path / "x.safetensors", m.state_dict(), "SpacetimeDiT", {**config, "colour": 1})
        SpacetimeDiT.load(tmp_path / "x.safetensors")
    m.save(tmp_path / "new.safetensors")
    with safe_open(str(tmp_path / "new.safetensors"), "pt") as f:
        assert "outcomes" not in json.loads(f.metadata()["config"])  # new checkpoints do not write it


def test_sampling_shapes_and_known_frames_stay():
    m = tiny()
    cache = KVCache(3)
    with torch.no_grad():
        m.forward_frame(torch.randn(2, 1, 4, 8, 8), torch.zeros(2), torch.tensor([[-1], [-1]]), cache, write=True)
        z = sample_next_frame(m, cache, torch.tensor([[1], [2]]), (2, 1, 4, 8, 8), steps=2, guidance=1.5)
    assert z.shape == (2, 1, 4, 8, 8) and torch.isfinite(z).all()
    known = torch.tensor([[True, False, False, True]])
    zk = torch.randn(1, 4, 4, 8, 8)
    out = sample_window(m, zk, known, torch.zeros(1, 4, 1, dtype=torch.long), steps=2)
    assert torch.equal(out[:, 0], zk[:, 0]) and torch.equal(out[:, 3], zk[:, 3])


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    m = SpacetimeDiT(DiTConfig(**TINY))
    # a learnable toy world: each frame is the previous one shifted right and damped
    base = torch.randn(16, 1, 4, 8, 8)
    acts = torch.randint(0, 2, (16, 5, 1))
    frames = [base]
    for _ in range(4):
        frames.append(torch.roll(frames[-1], shifts=1, dims=-1) * 0.9)
    losses = flow_losses(m, torch.cat(frames, 1), acts, 100)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_event_weight_weights_only_the_marked_frames():
    m = SpacetimeDiT(DiTConfig(**TINY))
    z0 = torch.randn(2, 4, 4, 8, 8)
    acts = torch.randint(0, 2, (2, 4, 1))
    rewards, dones = torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool)

    def flow(cfg, events=None):
        torch.manual_seed(1)  # same noise levels and noise in every call
        return flow_loss(m, z0, acts, rewards, dones, cfg, events=events)[1]["flow"]

    plain = flow(FlowConfig(action_dropout=0))
    weighted = FlowConfig(action_dropout=0, event_weight=5)
    none = torch.zeros(2, 4, dtype=torch.bool)
    # No marked frames, or all of them, is the unweighted mean; one marked frame moves it.
    assert flow(weighted, none) == pytest.approx(plain, rel=1e-5)
    assert flow(weighted, ~none) == pytest.approx(plain, rel=1e-5)
    one = none.clone()
    one[0, 3] = True
    assert flow(weighted, one) != pytest.approx(plain, rel=1e-3)
    # Without `events`, unlock frames (reward >= 0.5) are the marked ones.
    rewards[0, 3] = 1.0
    assert flow(weighted) == pytest.approx(flow(weighted, one), rel=1e-5)


def test_refused_moves_weight_their_frames_and_stack_with_events():
    m = SpacetimeDiT(DiTConfig(**TINY))
    z0 = torch.randn(2, 4, 4, 8, 8)
    acts = torch.randint(0, 2, (2, 4, 1))
    rewards, dones = torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool)

    def flow(cfg, events=None, refused=None):
        torch.manual_seed(1)
        return flow_loss(m, z0, acts, rewards, dones, cfg, events=events, refused=refused)[1]["flow"]

    one, other = torch.zeros(2, 4, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
    one[0, 3], other[1, 2] = True, True
    plain = flow(FlowConfig(action_dropout=0))
    assert flow(FlowConfig(action_dropout=0, refused_weight=5), refused=torch.zeros_like(one)) == pytest.approx(plain)
    # a refused frame weighs what an event frame of the same weight does; the weights multiply
    assert flow(FlowConfig(action_dropout=0, refused_weight=5), refused=one) == pytest.approx(
        flow(FlowConfig(action_dropout=0, event_weight=5), events=one), rel=1e-5)
    both = FlowConfig(action_dropout=0, event_weight=3, refused_weight=5)
    assert flow(both, events=one, refused=one) == pytest.approx(
        flow(FlowConfig(action_dropout=0, event_weight=15), events=one), rel=1e-5)
    assert flow(both, events=one, refused=other) != pytest.approx(flow(both, events=one, refused=one), rel=1e-3)


def test_rollout_windows_train_the_noise_levels_sampling_meets():
    from model.diffusion import sample_sigmas

    torch.manual_seed(0)
    cfg = FlowConfig(rollout_like=1.0, rollout_pure_noise=1.0)
    s, w = sample_sigmas(256, 6, cfg, "cpu")
    assert torch.all(w == 1.0)  # context frames keep their loss by default
    _, w0 = sample_sigmas(256, 6, FlowConfig(rollout_like=1.0, rollout_context_weight=0.0), "cpu")
    assert torch.all(w0[:, -1] == 1) and torch.all(w0[:, :4] == 0)  # only the generated frames count
    last = s[:, -1]
    assert torch.all(last == 1.0)  # the frame being generated starts from pure noise
    assert torch.all(s[:, :4] <= cfg.context_noise)  # context frames stay clean-ish
    high = sample_sigmas(4096, 6, FlowConfig(rollout_like=1.0, rollout_logit_mean=2.0), "cpu")[0][:, -1]
    low = sample_sigmas(4096, 6, FlowConfig(rollout_like=1.0), "cpu")[0][:, -1]
    assert high.median() > 0.8 and 0.4 < low.median() < 0.6


def test_previous_frame_input_sees_the_previous_frame_and_starts_at_zero():
    from model.dit import patchify

    torch.manual_seed(0)
    m = tiny(prev_frame=True)
    z, a = torch.randn(1, 3, 4, 8, 8), torch.zeros(1, 3, 1, dtype=torch.long)
    sigma = torch.tensor([[0.0, 0.3, 0.8]])
    with torch.no_grad():
        # zero-initialised input: a model that starts from weights without it is unchanged
        assert torch.count_nonzero(SpacetimeDiT(DiTConfig(**TINY, prev_frame=True)).prev_in.weight) == 0
        torch.nn.init.zeros_(m.prev_in.weight)
        torch.nn.init.zeros_(m.prev_in.bias)
        v0, _ = m(z, sigma, a)
        plain = SpacetimeDiT(DiTConfig(**TINY)).eval()
        plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("prev_in")})
        assert torch.allclose(plain(z, sigma, a)[0], v0, atol=1e-6)
        torch.nn.init.normal_(m.prev_in.weight, std=0.5)
        seen = []
        hook = m.prev_in.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
        v1, _ = m(z, sigma, a)
        hook.remove()
    # what reaches the tokens is each frame's previous frame as given (zeros before the first)
    assert torch.equal(seen[0], patchify(torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1), 2))
    assert torch.allclose(v1[:, 0], v0[:, 0], atol=1e-6)  # frame 0 gets zeros (and the bias is 0)
    assert not torch.allclose(v1[:, 1], v0[:, 1], atol=1e-3)


def test_shift_cells_moves_content_and_repeats_the_edge():
    from model.latents import shift_cells

    z = torch.arange(12.0).view(1, 3, 4)  # rows 0-2, columns 0-3
    right = shift_cells(z, 1, 0)
    assert torch.equal(right[..., 1:], z[..., :-1]) and torch.equal(right[..., 0], z[..., 0])
    up = shift_cells(z, 0, -1)
    assert torch.equal(up[..., :-1, :], z[..., 1:, :]) and torch.equal(up[..., -1, :], z[..., -1, :])
    assert torch.equal(shift_cells(z, 0, 0), z)


@pytest.mark.parametrize("dx, dy", [(1, 0), (-1, 0), (0, 1), (0, -1)])
def test_shift_cells_leaves_rows_below_the_view_in_place(dx, dy):
    """Crafter's inventory (the bottom rows) does not move when the player steps."""
    from model.latents import shift_cells

    z = torch.arange(2 * 9 * 9.0).view(2, 9, 9)
    moved = shift_cells(z, dx, dy, rows=7)
    assert torch.equal(moved[:, 7:], z[:, 7:])  # inventory rows untouched, in any direction
    assert torch.equal(moved[:, :7], shift_cells(z[:, :7], dx, dy))  # the view moves on its own
    assert torch.equal(shift_cells(z, dx, dy, rows=9), shift_cells(z, dx, dy))  # rows=h (or 0): all


def test_view_moves_input_is_the_previous_frame_moved_against_the_player():
    from model.dit import patchify
    from model.latents import shift_cells

    m = tiny(prev_frame=True, view_moves=MOVES)
    assert torch.count_nonzero(SpacetimeDiT(DiTConfig(**TINY, prev_frame=True, view_moves=MOVES)).moved_in.weight) == 0
    z = torch.randn(1, 5, 4, 8, 8)
    a = torch.tensor([[[-1], [1], [2], [5], [3]]])  # none, left, right, do, up
    seen = []
    hook = m.moved_in.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        m(z, torch.rand(1, 5), a)
    hook.remove()
    prev = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1)
    # the player steps left: the view's content moves right; a non-move (or none) leaves it
    want = torch.stack([prev[:, 0], shift_cells(prev[:, 1], 1, 0), shift_cells(prev[:, 2], -1, 0), prev[:, 3],
                        shift_cells(prev[:, 4], 0, 1)], 1)
    assert torch.equal(seen[0], patchify(want, 2))


def test_view_moves_are_checked():
    with pytest.raises(ValueError, match="needs prev_frame"):
        DiTConfig(**TINY, view_moves=MOVES)
    with pytest.raises(ValueError, match="action, dx, dy"):
        DiTConfig(**TINY, prev_frame=True, view_moves=((17, 1, 0),))
    with pytest.raises(ValueError, match="twice"):
        DiTConfig(**TINY, prev_frame=True, view_moves=((1, 1, 0), (1, -1, 0)))
    with pytest.raises(ValueError, match="view_rows"):
        DiTConfig(**TINY, prev_frame=True, view_moves=MOVES, view_rows=-1)
    with pytest.raises(ValueError, match="needs view_moves"):
        DiTConfig(**TINY, prev_frame=True, view_rows=3)


def test_view_rows_keep_the_overlay_of_the_moved_input():
    m = tiny(prev_frame=True, view_moves=MOVES, view_rows=3)
    prev = torch.randn(1, 2, 4, 8, 8)
    moved = m.moved(prev, torch.tensor([[[4], [1]]]))  # down, left
    assert torch.equal(moved[..., 3:, :], prev[..., 3:, :])
    assert torch.equal(moved[:, 0, :, :2], prev[:, 0, :, 1:3]) and torch.equal(moved[:, 0, :, 2], prev[:, 0, :, 2])
    assert torch.equal(moved[:, 1, :, :3, 1:], prev[:, 1, :, :3, :-1])
