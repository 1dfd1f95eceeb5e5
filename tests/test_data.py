"""ClipDataset on Crafter recordings: aligned frames/actions/rewards, native sizes."""

import numpy as np
import pytest
import torch

from model.data import ClipDataset
from model.recordings import RecordingError, read_jsonl
from worldenv.collect import CollectConfig, collect


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec")
    collect(CollectConfig(episodes=2, policy="random", out=str(out), seed=11, workers=1, max_steps=60,
                          area=(32, 32), size=(64, 64)), progress=False)
    return out


def test_clips_align_with_the_jsonl(recordings):
    ds = ClipDataset(recordings, clip_len=8, stride=4)
    assert len(ds) > 4
    e, s = ds.windows[3]
    clip = ds[3]
    recs = read_jsonl(recordings / f"{ds.episodes[e].name}.jsonl")[s : s + 8]
    assert clip["frames"].shape == (8, 64, 64, 3) and clip["frames"].dtype == torch.uint8
    assert clip["actions"].shape == (8, 1)
    expected = [r["action"] if r["action"] is not None else 0 for r in recs]
    assert clip["actions"][:, 0].tolist() == expected
    assert clip["has_action"].tolist() == [r["action"] is not None for r in recs]
    assert np.allclose(clip["rewards"].numpy(), [r["reward"] for r in recs])
    assert clip["captions"] == [r["caption"] for r in recs]


def test_random_sampling_and_dataloader(recordings):
    ds = ClipDataset(recordings, clip_len=8)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(30):
        clip = ds.sample(rng)
        assert clip["frames"].shape[0] == 8
        starts.add(int(clip["frames"].float().mean() * 1000))
    assert len(starts) > 5  # not always the same clip
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch["frames"].shape == (4, 8, 64, 64, 3)


def test_widescreen_native_size(tmp_path):
    collect(CollectConfig(episodes=1, policy="random", out=str(tmp_path), seed=1, workers=1, max_steps=20,
                          size=(117, 81), view=(13, 9), area=(32, 32)), progress=False)
    clip = ClipDataset(tmp_path, clip_len=4)[0]
    assert clip["frames"].shape == (4, 81, 117, 3)


def test_bad_folders_and_lengths(tmp_path, recordings):
    with pytest.raises(RecordingError, match="not a folder"):
        ClipDataset(tmp_path / "missing")
    with pytest.raises(RecordingError, match="no episode has"):
        ClipDataset(recordings, clip_len=10_000)
    with pytest.raises(ValueError, match="clip_len"):
        ClipDataset(recordings, clip_len=0)
