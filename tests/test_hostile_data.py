"""Hostile tests (issue 39) of recordings read for training: `ClipDataset(skip_bad=True)` skips a
truncated video and a short jsonl when it is built, and episode names from index.json cannot
reach outside the folder."""

import json

import pytest

from model.data import ClipDataset
from model.recordings import RecordingError, list_episodes, load_episode
from worldenv.collect import CollectConfig, collect


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile_data") / "rec"
    collect(CollectConfig(episodes=3, policy="random", out=str(out), seed=11, workers=1, max_steps=20,
                          area=(32, 32), size=(64, 64)), progress=False)
    return out


def test_skip_bad_skips_a_truncated_video_and_a_short_jsonl_when_built(recordings, tmp_path):
    import shutil

    folder = tmp_path / "rec"
    shutil.copytree(recordings, folder)
    names = [e.name for e in list_episodes(folder)]
    video = folder / f"{names[0]}.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # a truncated mp4
    jsonl = folder / f"{names[1]}.jsonl"
    jsonl.write_text("".join(jsonl.read_text().splitlines(keepends=True)[:-3]))  # a short jsonl
    with pytest.warns(UserWarning) as caught:
        ds = ClipDataset(folder, clip_len=4, skip_bad=True)
    skipped = " ".join(str(w.message) for w in caught)
    assert f"skipping episode {names[0]}" in skipped and f"skipping episode {names[1]}" in skipped
    assert [e.name for e in ds.episodes] == [names[2]]
    for i in range(len(ds)):  # every item of what is left reads
        assert ds[i]["frames"].shape == (4, 64, 64, 3)
    with pytest.raises(RecordingError):  # without skip_bad a bad episode is an error, not a silent skip
        ClipDataset(folder, clip_len=4)[0]


def test_episode_names_from_the_index_cannot_leave_the_folder(recordings, tmp_path):
    import shutil

    folder = tmp_path / "rec"
    shutil.copytree(recordings, folder)
    index = json.loads((folder / "index.json").read_text())
    for bad in ("../../escape/crafter_random_0000000", "sub/dir", "..", ""):
        index["episodes"][0]["name"] = bad
        (folder / "index.json").write_text(json.dumps(index))
        with pytest.raises(RecordingError, match="not a plain file name"):
            list_episodes(folder)
        with pytest.raises(RecordingError, match="not a plain file name"):
            ClipDataset(folder, clip_len=4)
    with pytest.raises(RecordingError, match="not a plain file name"):
        load_episode(recordings, "../rec/" + list_episodes(recordings)[0].name)
