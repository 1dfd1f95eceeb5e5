"""Bad-input sweep (hypothesis): every bad input gets a clear ValueError naming the problem, never a
crash deep inside, a silent broadcast or a half-written file."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.checkpoint import CheckpointError
from model.recordings import EpisodeWriter, RecordingError, load_episode
from worldenv.dream_env import DreamEnv
from worldenv.games.crafter.caption_facts import CRAFTER_FACTS

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def env(tiny_world):
    e = DreamEnv(world=tiny_world)
    e.reset(seed=0)
    return e


junk = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6), st.floats(allow_nan=True), st.text(max_size=5), st.none(),
    st.lists(st.integers(0, 16), max_size=3), hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=3), elements=st.integers(0, 16)),
)


@SETTINGS
@given(action=junk)
def test_any_action_is_stepped_or_rejected_naming_the_space(env, action):
    valid = isinstance(action, (int, np.integer)) and not isinstance(action, bool) and 0 <= action < 17
    if valid or (isinstance(action, np.ndarray) and action.shape == () and 0 <= action < 17):
        obs, *_ = env.step(action)
        assert obs.shape == (64, 64, 3)
    else:
        with pytest.raises(ValueError, match="Discrete\\(17\\)"):
            env.step(action)


@SETTINGS
@given(image=st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=70),
               elements=st.one_of(st.floats(-10, 300, width=32), st.just(float("nan")))),
    hnp.arrays(st.sampled_from([np.uint8, np.int16]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=70),
               elements=st.integers(0, 255)),
))
def test_any_start_image_is_used_or_rejected_clearly(env, image):
    try:
        obs, _ = env.reset(options={"image": image})
    except ValueError as e:
        assert any(w in str(e) for w in ("shape", "NaN", "0..255", "finite"))
    else:
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8


@settings(max_examples=60, deadline=None)
@given(prompt=st.text(max_size=300))
def test_any_prompt_parses(prompt):
    facts = CRAFTER_FACTS.facts(prompt)
    assert all(":" in f for f in facts)


def test_empty_and_huge_prompts(env):
    assert CRAFTER_FACTS.facts("") == []
    with pytest.raises(ValueError, match="at most"):
        CRAFTER_FACTS.facts("night " * 1000)


def _episode(tmp_path, n=5, fps=10):
    w = EpisodeWriter(tmp_path, "ep", fps=fps)
    for i in range(n):
        w.add(np.full((16, 16, 3), i * 10, np.uint8), {"action": 0, "reward": 0.0, "done": i == n - 1})
    return w.close(game="crafter")


def test_wrong_fps_in_index_is_named(tmp_path):
    info = _episode(tmp_path, fps=10)
    info.fps = 20.0
    with pytest.raises(RecordingError, match="fps"):
        load_episode(tmp_path, info)


@pytest.mark.parametrize("content, msg", [
    ('{"action": 0}\n[1, 2]\n', "expected a JSON object"),
    ('{"action": 0}\n{"action": \n', "malformed JSON"),
])
def test_jsonl_faults_name_file_and_line(tmp_path, content, msg):
    _episode(tmp_path, n=2)
    (tmp_path / "ep.jsonl").write_text(content)
    with pytest.raises(RecordingError, match=f"ep.jsonl:2: {msg}"):
        load_episode(tmp_path, "ep")


def test_writer_failure_leaves_no_files(tmp_path):
    with pytest.raises(ValueError, match="size changed"):
        with EpisodeWriter(tmp_path, "bad") as w:
            w.add(np.zeros((16, 16, 3), np.uint8), {})
            w.add(np.zeros((8, 8, 3), np.uint8), {})
    assert list(tmp_path.iterdir()) == []


def test_world_checkpoint_faults(tiny_world, tmp_path):
    import shutil

    from model.rollout import WorldModel

    bad = tmp_path / "w"
    shutil.copytree(tiny_world, bad)
    data = (bad / "dit.safetensors").read_bytes()
    (bad / "dit.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        WorldModel.load(bad)
    (bad / "dit.safetensors").write_bytes(json.dumps({"not": "safetensors"}).encode())
    with pytest.raises(CheckpointError):
        WorldModel.load(bad)
    (bad / "dit.safetensors").unlink()
    with pytest.raises(CheckpointError, match="train_world.py"):
        WorldModel.load(bad)
