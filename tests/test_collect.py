"""Collector: recordings decode bit-exactly, index/resume, clear errors on bad input."""

import json
import os

import numpy as np
import pytest

from model.recordings import RecordingError, list_episodes, load_episode, read_index
from worldenv.collect import CollectConfig, collect, folder_lock
from worldenv.collect import main as collect_main
from worldenv.games.crafter.env import CrafterEnv


def small(tmp_path, **kw):
    base = dict(game="crafter", episodes=2, policy="random", out=str(tmp_path / "rec"), seed=5,
                workers=1, max_steps=40, area=(32, 32))
    base.update(kw)
    return CollectConfig(**base)


def test_videos_decode_bit_exactly_to_the_game_frames(tmp_path):
    cfg = small(tmp_path)
    episodes = collect(cfg, progress=False)
    assert len(episodes) == 2
    for info in episodes:
        ep = load_episode(cfg.out, info)
        seed = info.extra["seed"]
        env = CrafterEnv(area=(32, 32), length=cfg.max_steps, size=(72, 72))
        obs, _ = env.reset(seed=seed)
        replay = [obs]
        for rec in ep.records[:-1]:
            obs, *_ = env.step(rec["action"])
            replay.append(obs)
        assert ep.frames.shape == (len(replay), 72, 72, 3)  # the shipped world's size by default
        assert np.array_equal(ep.frames, np.stack(replay))  # lossless: identical pixels
        assert ep.records[-1]["action"] is None and ep.records[-1]["done"]
        assert all(len(r["tiles"]) == 7 and len(r["tiles"][0]) == 9 for r in ep.records)
        assert ep.records[0]["caption"].startswith(("Day", "Dusk", "Night"))


def test_index_resume_skips_complete_episodes(tmp_path):
    cfg = small(tmp_path, episodes=1)
    collect(cfg, progress=False)
    first = read_index(cfg.out)
    mtime = os.path.getmtime(os.path.join(cfg.out, f"{first[0].name}.mp4"))
    cfg.episodes = 3
    collect(cfg, progress=False)
    index = read_index(cfg.out)
    assert [e.name for e in index][:1] == [first[0].name] and len(index) == 3
    assert os.path.getmtime(os.path.join(cfg.out, f"{first[0].name}.mp4")) == mtime
    assert all(e.bytes > 0 and e.frames > 1 for e in index)
    assert not [p for p in os.listdir(cfg.out) if p.endswith(".part")]


def test_a_second_collector_on_the_same_folder_is_refused(tmp_path):
    """Two runs writing one folder would each rewrite index.json from their own list."""
    cfg = small(tmp_path, episodes=1)
    os.makedirs(cfg.out)
    with folder_lock(tmp_path / "rec"), pytest.raises(SystemExit, match="another collector is writing"):
        collect(cfg, progress=False)
    assert len(collect(cfg, progress=False)) == 1  # released: the next run goes ahead


def test_parallel_workers_and_explore_policy(tmp_path):
    cfg = small(tmp_path, workers=2, policy="explore", episodes=2)
    episodes = collect(cfg, progress=False)
    assert sorted(e.name for e in episodes) == sorted(e.name for e in list_episodes(cfg.out))


@pytest.mark.parametrize("flag, value, message", [
    ("--game", "tetris", "unknown game"),
    ("--policy", "genius", "policy .genius. is not one of crafter.s"),
])
def test_unknown_names_fail_clearly(tmp_path, flag, value, message, capsys):
    with pytest.raises(SystemExit, match=message):
        collect_main([flag, value, "--out", str(tmp_path / "x"), "--episodes", "1"])


def test_unwritable_output_dir_fails_clearly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="cannot create output folder"):
        collect(small(tmp_path, out=str(blocker / "sub")), progress=False)


def test_minerl_without_the_extra_names_java(tmp_path):
    with pytest.raises(SystemExit, match="(?i)java"):
        collect(small(tmp_path, game="minerl"), progress=False)


def test_corrupt_recordings_give_file_and_line(tmp_path):
    cfg = small(tmp_path, episodes=1)
    (info,) = collect(cfg, progress=False)
    jsonl = os.path.join(cfg.out, f"{info.name}.jsonl")
    lines = open(jsonl).read().splitlines()
    # a missing line: frames and actions would misalign, so loading must refuse
    open(jsonl, "w").write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(RecordingError, match="jsonl lines"):
        load_episode(cfg.out, info)
    # a malformed line names file and line number
    bad = lines[:2] + ['{"action": 3, "reward": '] + lines[3:]
    open(jsonl, "w").write("\n".join(bad) + "\n")
    with pytest.raises(RecordingError, match=rf"{info.name}\.jsonl:3: malformed JSON"):
        load_episode(cfg.out, info)
    open(jsonl, "w").write("\n".join(lines) + "\n")
    # a truncated video
    video = os.path.join(cfg.out, f"{info.name}.mp4")
    data = open(video, "rb").read()
    open(video, "wb").write(data[: len(data) // 2])
    with pytest.raises(RecordingError):
        load_episode(cfg.out, info)


def test_malformed_index_is_named(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "index.json").write_text(json.dumps({"episodes": [{"name": "x"}]}))
    with pytest.raises(RecordingError, match="index.json: episode 0 is malformed"):
        list_episodes(folder)
    with pytest.raises(RecordingError, match="no episodes"):
        list_episodes(tmp_path / "rec2" if (tmp_path / "rec2").mkdir() is None else None)


def test_openings_decode_only_their_frames(tmp_path):
    """A dream's opening needs the first frames of an episode: `first` decodes only those, gives
    what a full decode gives there, and still refuses a video without them."""
    from model.data import episode_arrays

    cfg = small(tmp_path, episodes=1)
    (info,) = collect(cfg, progress=False)
    full = load_episode(cfg.out, info)
    head = load_episode(cfg.out, info, first=5)
    assert len(head.frames) == len(head.records) == 5 < len(full.frames)
    assert np.array_equal(head.frames, full.frames[:5]) and head.records == full.records[:5]
    arrays = episode_arrays(cfg.out, info, first=5)
    assert np.array_equal(arrays.actions, episode_arrays(cfg.out, info).actions[:5])
    video = os.path.join(cfg.out, f"{info.name}.mp4")
    data = open(video, "rb").read()
    open(video, "wb").write(data[:200])  # too little left for 5 frames
    with pytest.raises(RecordingError):
        load_episode(cfg.out, info, first=5)


def test_minetest_collection_in_two_workers_resumes_and_loads(tmp_path):
    """`collect.py --game minetest`: two workers write 160x120 recordings with MineRL actions that
    ClipDataset loads; a rerun asks for one more episode and collects only that one."""
    from test_minetest_env import game_missing

    if game_missing():
        pytest.skip(game_missing())
    from model.data import ClipDataset

    out = tmp_path / "mt"
    cfg = dict(game="minetest", policy="explore", out=str(out), seed=3, workers=2, max_steps=30)
    collect(CollectConfig(episodes=2, **cfg), progress=False)
    first = {e.name: e.bytes for e in read_index(out)}
    assert len(first) == 2
    collect(CollectConfig(episodes=3, **cfg), progress=False)
    index = {e.name: e for e in read_index(out)}
    assert len(index) == 3 and all(index[n].bytes == b for n, b in first.items())  # kept, not redone
    clip = ClipDataset(str(out), clip_len=8)[0]
    assert tuple(clip["frames"].shape) == (8, 120, 160, 3) and tuple(clip["actions"].shape) == (8, 25)
    with pytest.raises(SystemExit, match="not one of minetest's"):
        collect(CollectConfig(episodes=1, **{**cfg, "policy": "sleep"}), progress=False)
