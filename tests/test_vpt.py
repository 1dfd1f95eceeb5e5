"""VPT jsonl -> MineRL actions, camera binning, the MultiDiscrete wrapper and MineRL recording."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from model.recordings import RecordingError, list_episodes, load_episode
from model.vpt import (
    CAMERA_BINS,
    CAMERA_MAXVAL,
    CAMERA_SCALE,
    KEY_TO_BUTTON,
    MINERL_BUTTONS,
    MULTIDISCRETE_NVEC,
    bins_to_camera,
    camera_to_bins,
    minerl_to_multidiscrete,
    multidiscrete_to_minerl,
    noop_minerl_action,
    vpt_actions,
    vpt_record_to_minerl,
)
from worldenv.games.minecraft import minerl as minecraft
from worldenv.games.minecraft.minerl import (
    MultiDiscreteMineRLActions,
    collect_minerl_episode,
    minerl_dict_space,
    minerl_multidiscrete_space,
    record_episode,
)

W, H, FPS = 64, 36, 20


def vpt_line(dx=0.0, dy=0.0, keys=(), buttons=(), gui=False) -> dict:
    return {
        "mouse": {"x": 320.0, "y": 180.0, "dx": dx, "dy": dy, "buttons": list(buttons), "newButtons": []},
        "keyboard": {"keys": list(keys), "newKeys": []},
        "isGuiOpen": gui,
        "hotbar": 0,
        "yaw": 0.0,
        "pitch": 0.0,
    }


def pattern_frames(n: int) -> np.ndarray:
    frames = np.zeros((n, H, W, 3), dtype=np.uint8)
    for t in range(n):
        frames[t, :, : 4 * (t + 1)] = (40 * t % 256, 255 - 20 * t, 128)
    return frames


def write_vpt_recording(folder, name, lines, frames) -> None:
    """A VPT-layout recording: <name>.mp4 (lossless here, so frames compare exactly) + <name>.jsonl."""
    with av.open(str(folder / f"{name}.mp4"), mode="w") as c:
        s = c.add_stream("libx264rgb", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "rgb24"
        s.options = {"crf": "0", "preset": "ultrafast"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


EPISODE_LINES = [
    vpt_line(12.0, -3.0, ["key.keyboard.w", "key.keyboard.space"], [0]),
    vpt_line(1.0, 0.0, ["key.keyboard.w"]),
    vpt_line(-40.0, 7.0, ["key.keyboard.left.control", "key.keyboard.w"], [1]),
    vpt_line(0.0, 0.0, ["key.keyboard.e"]),
    vpt_line(25.0, 10.0, [], [0], gui=True),
    vpt_line(0.0, 0.0, ["key.keyboard.3"]),
    vpt_line(-1.0, -1.0, ["key.keyboard.a", "key.keyboard.left.shift"], [2]),
    vpt_line(200.0, -200.0, ["key.keyboard.d", "key.keyboard.unknown"]),
    vpt_line(0.5, 0.25, ["key.keyboard.q"]),
    vpt_line(0.0, 0.0, []),
]


# ---------------------------------------------------------------- key and camera mapping


def test_buttons_are_minerl_1_0_sorted():
    assert len(MINERL_BUTTONS) == 23 and len(set(MINERL_BUTTONS)) == 23
    assert list(MINERL_BUTTONS) == sorted(MINERL_BUTTONS)
    assert list(minerl_dict_space().spaces) == sorted([*MINERL_BUTTONS, "camera"])


@pytest.mark.parametrize("key,button", sorted(KEY_TO_BUTTON.items()))
def test_each_key_maps_to_its_button(key, button):
    action = vpt_record_to_minerl(vpt_line(keys=[key]))
    assert action[button] == 1
    assert sum(action[b] for b in MINERL_BUTTONS) == 1


def test_key_table_is_complete():
    expected = {
        "w": "forward",
        "s": "back",
        "a": "left",
        "d": "right",
        "space": "jump",
        "left.shift": "sneak",
        "left.control": "sprint",
        "e": "inventory",
        "q": "drop",
        "f": "swapHands",
        "escape": "ESC",
        **{str(i): f"hotbar.{i}" for i in range(1, 10)},
    }
    assert KEY_TO_BUTTON == {f"key.keyboard.{k}": v for k, v in expected.items()}


@pytest.mark.parametrize("mouse_button,button", [(0, "attack"), (1, "use"), (2, "pickItem")])
def test_mouse_buttons(mouse_button, button):
    action = vpt_record_to_minerl(vpt_line(buttons=[mouse_button]))
    assert action[button] == 1
    assert sum(action[b] for b in MINERL_BUTTONS) == 1


def test_unknown_keys_and_buttons_are_ignored():
    action = vpt_record_to_minerl(vpt_line(keys=["key.keyboard.z", "key.mouse.4"], buttons=[5]))
    assert all(action[b] == 0 for b in MINERL_BUTTONS)


def test_camera_is_float_dy_dx_times_scale():
    assert CAMERA_SCALE == 360 / 2400
    cam = vpt_record_to_minerl(vpt_line(dx=1.0, dy=0.0))["camera"]
    assert cam.dtype == np.float32
    np.testing.assert_allclose(cam, [0.0, 0.15], rtol=1e-6)  # not truncated to 0
    cam = vpt_record_to_minerl(vpt_line(dx=12.0, dy=-3.0))["camera"]
    np.testing.assert_allclose(cam, [-3.0 * 360 / 2400, 12.0 * 360 / 2400], rtol=1e-6)


def test_missing_or_bad_fields_raise_recording_error():
    line = vpt_line()
    del line["mouse"]
    with pytest.raises(RecordingError, match="mouse"):
        vpt_record_to_minerl(line)
    line = vpt_line()
    del line["keyboard"]
    with pytest.raises(RecordingError, match="keyboard"):
        vpt_record_to_minerl(line)
    line = vpt_line()
    del line["mouse"]["dx"]
    with pytest.raises(RecordingError, match="dx"):
        vpt_record_to_minerl(line)
    for bad in [vpt_line(dx="3"), vpt_line(dy=float("nan")), vpt_line(keys=[3]), vpt_line(buttons=["0"])]:
        with pytest.raises(RecordingError):
            vpt_record_to_minerl(bad)
    line = vpt_line()
    line["keyboard"] = ["key.keyboard.w"]
    with pytest.raises(RecordingError, match="keyboard"):
        vpt_record_to_minerl(line)
    with pytest.raises(RecordingError, match="isGuiOpen"):
        vpt_actions([{**vpt_line(), "isGuiOpen": "yes"}])


# ---------------------------------------------------------------- camera bins


def test_camera_bins_centre_symmetry_clipping():
    assert CAMERA_BINS == 11 and CAMERA_MAXVAL == 10.0
    assert camera_to_bins(np.zeros(2)).tolist() == [5, 5]
    assert camera_to_bins(np.array([CAMERA_MAXVAL, -CAMERA_MAXVAL])).tolist() == [10, 0]
    assert camera_to_bins(np.array([1e4, -1e4])).tolist() == [10, 0]
    xs = np.linspace(-30, 30, 2001)
    bins = camera_to_bins(xs)
    assert bins.dtype == np.int64
    assert np.all(np.diff(bins) >= 0)
    np.testing.assert_array_equal(camera_to_bins(-xs), 10 - bins)
    centres = bins_to_camera(np.arange(CAMERA_BINS))
    assert centres[5] == 0.0 and centres[10] == pytest.approx(10.0) and centres[0] == pytest.approx(-10.0)
    np.testing.assert_allclose(centres, -centres[::-1], atol=1e-6)
    assert np.all(np.diff(centres) > 0)
    # mu-law: fine steps near zero, coarse near the limit
    assert centres[6] - centres[5] < 1.0 < centres[10] - centres[9]
    np.testing.assert_array_equal(camera_to_bins(centres), np.arange(CAMERA_BINS))


def test_camera_round_trip_error_is_within_one_bin_gap():
    centres = bins_to_camera(np.arange(CAMERA_BINS)).astype(np.float64)
    xs = np.linspace(-CAMERA_MAXVAL, CAMERA_MAXVAL, 4001)
    back = bins_to_camera(camera_to_bins(xs))
    # x lies between two neighbouring centres, and it comes back as one of them
    idx = np.clip(np.searchsorted(centres, xs) - 1, 0, CAMERA_BINS - 2)
    gap = centres[idx + 1] - centres[idx]
    assert np.all(np.abs(back - xs) <= gap + 1e-5)
    # near 0 the first centres are 0 and +-0.615 degrees, split at the mu-law midpoint (0.271)
    small = np.abs(xs) <= centres[6]
    assert np.all(np.abs(back[small] - xs[small]) <= 0.35)
    assert camera_to_bins(np.array([0.26, 0.28])).tolist() == [5, 6]


def test_bins_to_camera_rejects_out_of_range():
    with pytest.raises(ValueError, match="0, 10"):
        bins_to_camera(np.array([11]))
    with pytest.raises(ValueError):
        bins_to_camera(np.array([-1]))
    with pytest.raises(ValueError):
        camera_to_bins(np.array([np.nan, 0.0]))


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_camera_bins_property(a, b):
    lo, hi = min(a, b), max(a, b)
    blo, bhi = camera_to_bins(np.array([lo, hi]))
    assert 0 <= blo <= bhi < CAMERA_BINS
    assert camera_to_bins(np.array([-lo]))[0] == CAMERA_BINS - 1 - blo


# ---------------------------------------------------------------- multidiscrete


def test_multidiscrete_round_trip_and_space():
    space = minerl_multidiscrete_space()
    np.testing.assert_array_equal(space.nvec, MULTIDISCRETE_NVEC)
    rng = np.random.default_rng(0)
    for _ in range(20):
        vec = rng.integers(0, MULTIDISCRETE_NVEC)
        action = multidiscrete_to_minerl(vec)
        assert minerl_dict_space().contains(action)
        back = minerl_to_multidiscrete(action)
        np.testing.assert_array_equal(back, vec)
        assert back.dtype == np.int64 and back.shape == (25,)
        assert space.contains(back)
    noop = minerl_to_multidiscrete(noop_minerl_action())
    assert noop.tolist() == [0] * 23 + [5, 5]


def test_multidiscrete_validation():
    with pytest.raises(ValueError, match=r"\(25,\)"):
        multidiscrete_to_minerl(np.zeros(24, dtype=np.int64))
    bad = np.zeros(25, dtype=np.int64)
    bad[0] = 2
    with pytest.raises(ValueError, match="range"):
        multidiscrete_to_minerl(bad)
    bad = np.full(25, 0)
    bad[24] = 11
    with pytest.raises(ValueError, match="range"):
        multidiscrete_to_minerl(bad)
    with pytest.raises(ValueError, match="unknown"):
        minerl_to_multidiscrete({"craft": 1, "camera": [0, 0]})
    with pytest.raises(ValueError, match=r"\(2,\)"):
        minerl_to_multidiscrete({"camera": [0, 0, 0]})
    with pytest.raises(ValueError, match="attack"):
        minerl_to_multidiscrete({"attack": 3})


# ---------------------------------------------------------------- wrapper


class FakeMineRLEnv(gym.Env):
    """Minimal Gymnasium env with MineRL 1.0's Dict action space; remembers the last action."""

    def __init__(self):
        self.action_space = minerl_dict_space()
        self.observation_space = spaces.Box(0, 255, (4, 4, 3), np.uint8)
        self.last_action = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((4, 4, 3), np.uint8), {}

    def step(self, action):
        assert self.action_space.contains(action)
        self.last_action = action
        return np.zeros((4, 4, 3), np.uint8), 0.0, False, False, {}


def test_wrapper_converts_vectors():
    env = MultiDiscreteMineRLActions(FakeMineRLEnv())
    assert isinstance(env.action_space, spaces.MultiDiscrete)
    env.reset(seed=0)
    vec = np.array([0] * 23 + [5, 5])
    vec[MINERL_BUTTONS.index("forward")] = 1
    vec[MINERL_BUTTONS.index("jump")] = 1
    vec[23], vec[24] = 4, 10
    env.step(vec)
    got = env.unwrapped.last_action
    assert got["forward"] == 1 and got["jump"] == 1 and got["attack"] == 0
    assert got["camera"][0] < 0 and got["camera"][1] == pytest.approx(10.0)
    np.testing.assert_array_equal(env.reverse_action(got), vec)
    env.step(env.action_space.sample())


def test_wrapper_rejects_other_spaces():
    class Other(FakeMineRLEnv):
        def __init__(self):
            super().__init__()
            self.action_space = spaces.Discrete(3)

    with pytest.raises(ValueError, match="Dict"):
        MultiDiscreteMineRLActions(Other())


# ---------------------------------------------------------------- VPT recordings on disk


def test_load_vpt_recording(tmp_path):
    frames = pattern_frames(len(EPISODE_LINES))
    write_vpt_recording(tmp_path, "cheeky-cornflower-setter-abc123", EPISODE_LINES, frames)
    (info,) = list_episodes(tmp_path)  # no index.json: found by scanning
    assert info.name == "cheeky-cornflower-setter-abc123" and (info.width, info.height) == (W, H)
    ep = load_episode(tmp_path, info.name)
    assert len(ep.frames) == len(ep.records) == len(EPISODE_LINES)
    np.testing.assert_array_equal(ep.frames, frames)

    actions, camera, gui = vpt_actions(ep.records, source=info.name)
    assert actions.shape == (10, 25) and actions.dtype == np.int64
    assert camera.shape == (10, 2) and camera.dtype == np.float32
    assert gui.tolist() == [False] * 4 + [True] + [False] * 5
    assert all(minerl_multidiscrete_space().contains(a) for a in actions)
    fwd, jump, attack = (MINERL_BUTTONS.index(b) for b in ("forward", "jump", "attack"))
    assert actions[0, fwd] == 1 and actions[0, jump] == 1 and actions[0, attack] == 1
    assert actions[5, MINERL_BUTTONS.index("hotbar.3")] == 1
    np.testing.assert_allclose(camera[1], [0.0, 0.15], rtol=1e-6)
    assert actions[9, 23:].tolist() == [5, 5]
    assert actions[7, 23:].tolist() == [0, 10]  # 30-degree turns clip to the end bins
    np.testing.assert_allclose(camera[7], [-30.0, 30.0], rtol=1e-6)  # unclipped in `camera`


def test_malformed_json_line_names_file_and_line(tmp_path):
    frames = pattern_frames(3)
    write_vpt_recording(tmp_path, "ep", EPISODE_LINES[:3], frames)
    lines = (tmp_path / "ep.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-5]
    (tmp_path / "ep.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=r"ep\.jsonl:2"):
        load_episode(tmp_path, "ep")


def test_line_count_mismatch_is_an_error(tmp_path):
    write_vpt_recording(tmp_path, "ep", EPISODE_LINES[:4], pattern_frames(5))
    with pytest.raises(RecordingError, match="5 video frames but 4 jsonl lines"):
        load_episode(tmp_path, "ep")


def test_missing_mouse_in_file_names_record(tmp_path):
    lines = [vpt_line(), {k: v for k, v in vpt_line().items() if k != "mouse"}, vpt_line()]
    write_vpt_recording(tmp_path, "ep", lines, pattern_frames(3))
    ep = load_episode(tmp_path, "ep")
    with pytest.raises(RecordingError, match=r"ep: record 1: missing field 'mouse'"):
        vpt_actions(ep.records, source="ep")


# ---------------------------------------------------------------- MineRL collection


class FakeOldGymEnv:
    """Old gym API like MineRL's: reset() -> obs, step(action) -> (obs, reward, done, info)."""

    def __init__(self, episode_len=100, size=(36, 64)):
        self.episode_len = episode_len
        self.size = size
        self.rng = np.random.default_rng(0)
        self.t = 0
        self.actions = []
        self.space = minerl_dict_space()

    def _obs(self):
        pov = self.rng.integers(0, 256, (*self.size, 3), dtype=np.uint8)
        return {"pov": pov, "inventory": {"dirt": np.array(self.t), "log": np.int64(2)}}

    def reset(self):
        self.t = 0
        return self._obs()

    def step(self, action):
        assert self.space.contains(action)
        self.actions.append(action)
        self.t += 1
        return self._obs(), 0.5 * self.t, self.t >= self.episode_len, {}


def test_record_episode_truncated_at_max_steps(tmp_path):
    env = FakeOldGymEnv()
    info = record_episode(
        env, tmp_path, "mc0", env_id="MineRLFake-v0", max_steps=6, rng=np.random.default_rng(1)
    )
    assert info.frames == 7 and info.game == "minerl" and info.extra == {"env_id": "MineRLFake-v0"}
    assert (info.width, info.height, info.fps) == (64, 36, 20.0)
    ep = load_episode(tmp_path, info)
    assert len(ep.frames) == 7
    recs = ep.records
    assert recs[0]["reward"] == 0.0 and recs[1]["reward"] == 0.5 and recs[-1]["action"] is None
    assert recs[-1]["minerl_action"] is None and not any(r["done"] for r in recs)
    assert all(r["caption"] == "Minecraft, MineRLFake-v0" for r in recs)
    assert recs[3]["inventory"] == {"dirt": 3, "log": 2}
    for rec, sent in zip(recs[:-1], env.actions, strict=True):
        vec = np.array(rec["action"])
        assert minerl_multidiscrete_space().contains(vec)
        np.testing.assert_array_equal(minerl_to_multidiscrete(sent), vec)  # the vector is what was sent
        np.testing.assert_allclose(rec["minerl_action"]["camera"], sent["camera"], rtol=1e-6)
    assert not list(tmp_path.glob(".*part"))


def test_record_episode_stops_at_done(tmp_path):
    info = record_episode(
        FakeOldGymEnv(episode_len=3),
        tmp_path,
        "mc1",
        env_id="X-v0",
        max_steps=50,
        rng=np.random.default_rng(0),
    )
    ep = load_episode(tmp_path, info)
    assert info.frames == 4 and [r["done"] for r in ep.records] == [False, False, False, True]
    assert ep.records[-1]["action"] is None


def test_record_episode_aborts_on_error(tmp_path):
    class Broken(FakeOldGymEnv):
        def step(self, action):
            if self.t == 2:
                raise RuntimeError("java crashed")
            return super().step(action)

    with pytest.raises(RuntimeError, match="java"):
        record_episode(Broken(), tmp_path, "mc2", env_id="X-v0", max_steps=10, rng=np.random.default_rng(0))
    assert list(tmp_path.iterdir()) == []


def test_record_episode_with_policy_and_validation(tmp_path):
    noop = np.array([0] * 23 + [5, 5])
    env = FakeOldGymEnv()
    record_episode(
        env,
        tmp_path,
        "mc3",
        env_id="X-v0",
        max_steps=2,
        rng=np.random.default_rng(0),
        policy=lambda obs, rng: noop,
    )
    assert all(minerl_to_multidiscrete(a).tolist() == noop.tolist() for a in env.actions)
    with pytest.raises(ValueError, match="policy"):
        record_episode(
            env, tmp_path, "mc4", env_id="X-v0", max_steps=2, rng=np.random.default_rng(0), policy="vpt"
        )
    with pytest.raises(ValueError, match="max_steps"):
        record_episode(env, tmp_path, "mc4", env_id="X-v0", max_steps=0, rng=np.random.default_rng(0))


def test_collect_without_minerl_explains_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "minerl", None)  # makes `import minerl` raise ImportError
    with pytest.raises(ImportError, match="Java") as e:
        collect_minerl_episode("MineRLBasaltFindCave-v0", tmp_path, "ep", seed=0, max_steps=5)
    assert "[minerl]" in str(e.value) and "offline" in str(e.value)
    with pytest.raises(ImportError, match="JDK 8"):
        minecraft.require_minerl()


def test_modules_do_not_import_minerl_or_gym():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, model.vpt; assert 'gymnasium' not in sys.modules, 'vpt imports gymnasium'; "
        "import worldenv.games.minecraft; "
        "assert 'minerl' not in sys.modules and 'gym' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
