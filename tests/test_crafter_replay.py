"""Replaying Crafter recordings with and without the night grain, the grain-free copy of a folder,
and what the VAE evaluation and training do with it."""

import dataclasses
import json

import numpy as np
import pytest

from model.recordings import RecordingError, list_episodes, load_episode, read_jsonl
from worldenv.games.crafter.recorder import record_crafter_episode
from worldenv.games.crafter.replay import replay_episode

NIGHT_FROM = 150  # crafter's daylight falls below 0.5 (grain) from about step 148 of an episode


@pytest.fixture(scope="module")
def night_recording(tmp_path_factory):
    """A 72x72 episode that stands still into the first night (noop, then a step to the left every
    20 steps so the view changes), in a folder with its index."""
    from model.recordings import write_index

    folder = tmp_path_factory.mktemp("night")

    def policy(info):
        policy.t += 1
        return 1 if policy.t % 20 == 0 else 0

    policy.t = 0
    info = record_crafter_episode(folder, "crafter_noop_0000001", 1, policy, NIGHT_FROM + 12, (72, 72),
                                  (9, 9), (64, 64))
    write_index(folder, [info], game="crafter", policy="noop")
    return folder


def test_replay_with_grain_gives_back_the_recording_exactly(night_recording):
    info = list_episodes(night_recording)[0]
    ep = load_episode(night_recording, info)
    daylight = np.array([r["daylight"] for r in ep.records])
    assert (daylight < 0.5).sum() >= 5, "the episode should reach the night"
    assert np.array_equal(replay_episode(str(night_recording), info, grain=True), ep.frames)


def test_without_grain_only_the_night_changes_and_the_corners_lose_their_noise(night_recording):
    info = list_episodes(night_recording)[0]
    ep = load_episode(night_recording, info)
    clean = replay_episode(str(night_recording), info, grain=False)
    night = np.array([r["daylight"] < 0.5 for r in ep.records])
    assert np.array_equal(clean[~night], ep.frames[~night])
    assert all((clean[t] != ep.frames[t]).any() for t in np.flatnonzero(night))
    # crafter's vignette puts the grain at the edges: there the frames part, at the centre hardly
    t = np.flatnonzero(night)[-1]
    gap = np.abs(clean[t].astype(int) - ep.frames[t]).mean(-1)
    assert gap[:8, :8].mean() > 1.0 and gap[:8, :8].mean() > 5 * gap[28:36, 32:40].mean()
    # the deterministic render is the game's blend with the grain's mean: the same frame twice
    assert np.array_equal(replay_episode(str(night_recording), info, grain=False), clean)


def test_a_replay_that_leaves_the_recording_says_where(night_recording):
    info = list_episodes(night_recording)[0]
    records = read_jsonl(night_recording / f"{info.name}.jsonl")
    # a recorded step to the left that moved the player, replayed as a noop
    t = next(i for i, r in enumerate(records) if r["action"] == 1 and records[i + 1]["player_pos"] != r["player_pos"])
    records[t]["action"] = 0
    with pytest.raises(RecordingError, match=f"left the recording at step {t + 1} \\(player_pos"):
        replay_episode(str(night_recording), info, records=records)
    records = read_jsonl(night_recording / f"{info.name}.jsonl")
    records[5]["inventory"]["wood"] += 1  # a world that ran otherwise: the player holds other things
    with pytest.raises(RecordingError, match="left the recording at step 5 \\(inventory"):
        replay_episode(str(night_recording), info, records=records)
    with pytest.raises(RecordingError, match="with a seed"):
        replay_episode(str(night_recording), dataclasses.replace(info, extra={}))


def test_grain_free_copy_lines_up_resumes_and_feeds_evaluation_and_training(night_recording, tmp_path):
    import evaluate_vae
    import replay_grain_free
    from train_vae import TrainVAEConfig, train

    from model.recordings import write_index
    from model.vae import VAEConfig, VideoVAE

    copy = tmp_path / "copy"
    replay_grain_free.main(["--data", str(night_recording), "--out", str(copy)])
    ours, theirs = list_episodes(night_recording), list_episodes(copy)
    assert [(e.name, e.frames) for e in ours] == [(e.name, e.frames) for e in theirs]
    assert theirs[0].extra["night_grain"] == "mean" and theirs[0].extra["seed"] == 1
    assert read_jsonl(copy / f"{ours[0].name}.jsonl") == read_jsonl(night_recording / f"{ours[0].name}.jsonl")
    stamp = (copy / f"{ours[0].name}.mp4").stat().st_mtime_ns
    replay_grain_free.main(["--data", str(night_recording), "--out", str(copy)])  # resumes: nothing to do
    assert (copy / f"{ours[0].name}.mp4").stat().st_mtime_ns == stamp
    (copy / f"{ours[0].name}.mp4").unlink()  # a missing episode is replayed again
    replay_grain_free.main(["--data", str(night_recording), "--out", str(copy)])
    assert [(e.name, e.frames) for e in list_episodes(copy)] == [(e.name, e.frames) for e in ours]
    with pytest.raises(SystemExit, match="another folder"):
        replay_grain_free.main(["--data", str(night_recording), "--out", str(night_recording)])

    tiny = VideoVAE(VAEConfig(channels=(8, 8, 16), latent_channels=4))
    tiny.save(tmp_path / "vae.safetensors")
    r = evaluate_vae.main(["--vae", str(tmp_path / "vae.safetensors"), "--data", str(night_recording),
                           "--frames", "60", "--batch", "30", "--move-pairs", "0", "--grain-free", str(copy)])
    g = r["grain_free"]
    assert g["copy_vs_real"]["day"] == 1.0  # day frames are the same frames
    assert 0.5 < g["copy_vs_real"]["all"] <= 1.0 and 0 <= g["reconstruction_vs_copy"]["all"] <= 1
    other = tmp_path / "other"  # recordings of another episode
    write_index(other, [record_crafter_episode(other, "crafter_noop_0000002", 2, lambda info: 0, 9, (72, 72))],
                game="crafter")
    with pytest.raises(SystemExit, match="not a grain-free copy"):
        evaluate_vae.main(["--vae", str(tmp_path / "vae.safetensors"), "--data", str(night_recording),
                           "--move-pairs", "0", "--grain-free", str(other)])

    # training on the copy: the decoder's targets of night frames are their grain-free copies
    from train_vae import GrainFreeTargets

    from model.data import FrameBank

    bank = FrameBank(night_recording)
    targets = GrainFreeTargets(bank, str(copy))
    night = np.array([r["daylight"] < 0.5 for r in read_jsonl(night_recording / f"{ours[0].name}.jsonl")])
    assert len(targets.frames) == night.sum()
    idx = np.array([0, np.flatnonzero(night)[0]])
    got = targets(bank.frames[idx], idx)
    assert np.array_equal(got[0], bank.frames[0]) and np.array_equal(got[1], FrameBank(copy).frames[idx[1]])
    final = train(TrainVAEConfig(data=str(night_recording), target_data=str(copy), out=str(tmp_path / "run"),
                                 steps=3, batch_size=4, progress=False, init=str(tmp_path / "vae.safetensors"),
                                 decoder_only=True, vae=VAEConfig(channels=(8, 8, 16), latent_channels=4)))
    assert VideoVAE.load(final).cfg.latent_channels == 4
    # the whole VAE, its errors on the undarkened canvas (night frames included in this folder)
    final = train(TrainVAEConfig(data=str(night_recording), target_data=str(copy), out=str(tmp_path / "nc"),
                                 steps=3, batch_size=8, progress=False, init=str(tmp_path / "vae.safetensors"),
                                 night_contrast=16, keep_latent_stats=True))
    tuned = VideoVAE.load(final)
    assert not tuned.same_latent_space(tiny)  # the encoder trained too
    assert np.array_equal(tuned.latent_scale.numpy(), tiny.latent_scale.numpy())  # its statistics kept
    # with the tile-class loss: its terms are logged, and it needs single frames of recorded maps
    final = train(TrainVAEConfig(data=str(night_recording), target_data=str(copy), out=str(tmp_path / "tc"),
                                 steps=2, batch_size=8, progress=False, init=str(tmp_path / "vae.safetensors"),
                                 night_contrast=16, tile_class_weight=1.0, log_every=1))
    logged = (tmp_path / "tc" / "log.csv").read_text().splitlines()
    assert logged[0].endswith(",tile_ce,tile_acc") and len(logged) == 3
    assert all(0 <= float(row.split(",")[-1]) <= 1 and np.isfinite(float(row.split(",")[-2])) for row in logged[1:])
    for bad, match in ((dict(tile_class_weight=-1.0), "--tile-class-weight must be >= 0"),
                       (dict(tile_class_weight=1.0, night_pairs=0.5), "not --night-pairs"),
                       (dict(tile_class_weight=1.0, tile_class_temperature=0.0), "--tile-class-temperature must be > 0"),
                       (dict(tile_class_weight=1.0, vae=VAEConfig(temporal_factor=2)), "single frames")):
        with pytest.raises(SystemExit, match=match):
            train(TrainVAEConfig(data=str(night_recording), out=str(tmp_path / "x"), steps=1, progress=False, **bad))
    with pytest.raises(SystemExit, match="not a grain-free copy"):
        train(TrainVAEConfig(data=str(night_recording), target_data=str(other), out=str(tmp_path / "x"),
                             steps=1, progress=False))
    with pytest.raises(SystemExit, match="names 2 folders"):
        train(TrainVAEConfig(data=str(night_recording), target_data=f"{copy},{copy}", out=str(tmp_path / "x"),
                             steps=1, progress=False))
    assert json.loads((copy / "index.json").read_text())["night_grain"] == "mean"
