"""The Minetest evaluation (worldenv/games/minetest/evaluation) on a tiny untrained world of
MultiDiscrete(25) actions and synthetic recordings: a scene seen through a 4:3 pinhole camera that the
recorded camera actions turn exactly, so the camera-shift baseline has something to find."""

import json

import numpy as np
import pytest
import torch

from model.metrics import ssim
from model.recordings import EpisodeWriter, write_index
from model.vpt import MINERL_BUTTONS, MULTIDISCRETE_NVEC, bins_to_camera
from worldenv.games.minetest.evaluation.data import VERTICAL_FOV, horizontal_fov, noop_action

torch.set_num_threads(1)
W, H = 32, 24
HFOV = horizontal_fov(W, H)
FORWARD = MINERL_BUTTONS.index("forward")


def scene(yaw: float, pitch: float) -> np.ndarray:
    """The view (H, W, 3) uint8 from yaw, pitch (degrees): smooth stripes whose periods divide 360°,
    so a 360° turn comes back to the same frame."""
    x = yaw + (np.arange(W) + 0.5 - W / 2) * HFOV / W
    y = pitch + (np.arange(H) + 0.5 - H / 2) * VERTICAL_FOV / H
    X, Y = np.meshgrid(np.radians(x), np.radians(y))
    r = 128 + 70 * np.sin(6 * X) + 30 * np.sin(4 * Y)
    g = 128 + 60 * np.cos(4 * X + 1.0) * np.cos(3 * Y)
    b = 128 + 50 * np.sin(9 * X + 2 * Y)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def random_actions(rng, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        a = noop_action()
        kind = rng.choice(3, p=[0.5, 0.25, 0.25])
        if kind == 0:  # turn: a visible yaw (1.2-10 degrees) and sometimes a pitch
            a[-1] = rng.choice([0, 1, 2, 8, 9, 10])
            a[-2] = rng.choice([5, 5, 3, 7])
        elif kind == 1:
            a[FORWARD] = 1
        out.append(a)
    return np.array(out)


def write_episodes(folder, seed: int, n_episodes: int, frames: int, loops: bool = False):
    rng = np.random.default_rng(seed)
    infos = []
    for e in range(n_episodes):
        acts = random_actions(rng, frames)
        extra = {"loops": []}
        if loops and e == 0:  # a 360° turn (36 x 10°, beyond a 4-frame context) and a short there-and-back turn
            acts[10:46] = noop_action()
            acts[10:46, -1] = 10
            acts[50:54] = noop_action()
            acts[50:52, -1], acts[52:54, -1] = 10, 0
            extra["loops"] = [{"kind": "turn360", "start": 10, "end": 46, "pos_error": 0.0, "yaw_error": 0.0},
                              {"kind": "a_b_a", "start": 50, "end": 54, "pos_error": 0.0, "yaw_error": 0.0}]
        yaw, pitch = float(rng.uniform(0, 360)), 0.0
        w = EpisodeWriter(folder, f"ep{e}", fps=20.0)
        for t in range(frames):
            last = t == frames - 1
            w.add(scene(yaw, pitch), {"action": None if last else acts[t].tolist(), "reward": 0.0, "done": False})
            d_pitch, d_yaw = bins_to_camera(acts[t, -2:])
            yaw, pitch = yaw + float(d_yaw), float(np.clip(pitch + d_pitch, -30, 30))
        infos.append(w.close("minetest", **extra))
    write_index(folder, infos, game="minetest")
    return folder


def build_world(folder, nvec=tuple(MULTIDISCRETE_NVEC), k: int = 4):
    from model.dit import DiTConfig, SpacetimeDiT
    from model.rollout import WorldModel
    from model.vae import VAEConfig, VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig(channels=(8, 8, 16), latent_channels=4))
    dit = SpacetimeDiT(DiTConfig(action_nvec=nvec, latent_channels=4, patch=1, dim=32, depth=2, heads=2, window=k + 1))
    with torch.no_grad():  # wake the zero-initialised output layers so frames vary
        for p in list(dit.patch_out.parameters()) + list(dit.final_ada.parameters()):
            p.normal_(0, 0.05)
    frames = np.stack([np.stack([scene(30.0 * i + 5 * t, 0.0) for t in range(k)]) for i in range(2)])
    acts = np.full((2, k, len(nvec)), -1, np.int64)
    acts[:, 1:] = noop_action()[: len(nvec)] if len(nvec) > 1 else 0
    WorldModel(vae, dit, torch.from_numpy(frames), torch.from_numpy(acts), {"game": "minetest"}).save(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval3d")
    return {"world": build_world(root / "world"), "held": write_episodes(root / "held", 1, 2, 70, loops=True),
            "train": write_episodes(root / "train", 2, 6, 150), "root": root}


def test_ssim_is_one_for_identical_frames_and_falls_with_noise():
    rng = np.random.default_rng(0)
    a = np.stack([scene(10.0 * i, 0.0) for i in range(3)])
    assert np.allclose(ssim(a, a), 1.0)
    scores = [ssim(a, np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8)).mean() for s in (5, 20, 60)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_every_measure_runs_and_the_camera_shift_beats_repeat_on_turns(setup):
    from worldenv.games.minetest.evaluation.run import main

    out = setup["root"] / "out"
    r = main(["--model", str(setup["world"]), "--data", str(setup["held"]), "--out", str(out), "--starts", "6",
              "--horizons", "1", "4", "--idm-data", str(setup["train"]), "--idm-steps", "20", "--idm-horizon", "4",
              "--stability-steps", "30", "--every", "10", "--stability-policy", "random-walk"])
    saved = json.loads((out / "eval_3d.json").read_text())
    assert saved["fidelity"].keys() == {"1", "4"}
    h1 = saved["fidelity"]["1"]
    assert set(h1) >= {"model", "repeat_last", "camera_shift", "repeat_last_vae", "windows", "by_step"}
    # the tiny world's VAE is untrained: the last frame through it is far from the last frame itself
    assert h1["repeat_last_vae"]["psnr_db"] < h1["repeat_last"]["psnr_db"] - 3
    assert set(h1["by_step"]) == {"turned", "walked", "neither"}
    assert set(h1["model"]) == {"psnr_db", "ssim"}
    ac = saved["action_control"]
    assert set(ac["real"]) == set(ac["dream"]) == {"yaw", "pitch", "forward_back", "jump", "attack"}
    assert "real_heldout_all" in ac and (out / "idm.safetensors").exists()
    rv = saved["revisit"]
    assert rv["loops"] == 2 and rv["fits_context"]["loops"] == 1 and rv["beyond_context"]["loops"] == 1
    assert {"psnr_vs_a_db", "psnr_vs_mid_db", "closer_to_a"} <= set(rv["fits_context"])
    # the data's own loops come back to A exactly
    assert all(row["real_end_vs_a_db"] > 90 for row in rv["per_loop"])
    st = saved["stability"]
    assert [p["step"] for p in st["points"]] == [10, 20, 30] and set(st["points"][0]) == {"step", "mean", "std",
                                                                                         "frame_change"}
    assert (out / "stability_filmstrip.png").exists() and (out / "real_vs_dream.png").exists()
    assert (out / "real_vs_dream.mp4").exists()
    assert not list(out.glob(".tmp-*"))
    assert saved["fidelity"] == r["fidelity"]
    # windows 6 over the synthetic turns: moving the last frame with the camera beats repeating it
    turned = h1["by_step"]["turned"]
    assert turned["windows"] >= 1
    assert turned["camera_shift"]["psnr_db"] > turned["repeat_last"]["psnr_db"] + 3
    assert turned["camera_shift"]["ssim"] > turned["repeat_last"]["ssim"]
    # a saved IDM is reused
    r2 = main(["--model", str(setup["world"]), "--data", str(setup["held"]), "--out", str(out / "again"),
               "--measures", "action_control", "stability", "--stability-steps", "12", "--every", "6", "--starts", "2", "--idm", str(out / "idm.safetensors"),
               "--stability-start", "1",
               "--horizons", "1", "--idm-horizon", "2"])
    assert r2["idm"]["loaded"] == str(out / "idm.safetensors") and "fidelity" not in r2
    assert r2["stability"]["policy"] == "recorded" and [p["step"] for p in r2["stability"]["points"]] == [6, 12]
    assert r2["stability"]["start"] == 1
    with pytest.raises(ValueError, match="first 8 held-out episodes"):
        main(["--model", str(setup["world"]), "--data", str(setup["held"]), "--out", str(out / "bad"),
              "--measures", "stability", "--stability-start", "8"])


def test_camera_shift_baseline_on_many_turning_steps(setup):
    from worldenv.games.minetest.evaluation.data import Recordings, draw_windows, load_windows
    from worldenv.games.minetest.evaluation.fidelity import fidelity

    rec = Recordings(setup["train"], (W, H))
    clips, acts, _ = load_windows(rec, draw_windows(rec, 6, 30, 0), 4, 6)
    r = fidelity(clips, acts, clips[:, 4:], 4, (1, 2), HFOV, VERTICAL_FOV, 0.5, last_vae=clips[:, 3])
    for h in ("1", "2"):
        t = r[h]["by_step"]["turned"]
        assert t["windows"] >= 5 and t["camera_shift"]["psnr_db"] > t["repeat_last"]["psnr_db"] + 3
        assert r[h]["repeat_last_vae"] == r[h]["repeat_last"]  # a lossless VAE's copy is the repeat
    n = r["1"]["by_step"]["neither"]  # no turn: the shift is the repeat
    assert n["windows"] == 0 or n["camera_shift"]["psnr_db"] == pytest.approx(n["repeat_last"]["psnr_db"])


def test_idm_learns_the_camera_direction(setup):
    from worldenv.games.minetest.evaluation.data import Recordings
    from worldenv.games.minetest.evaluation.idm import accuracy, real_pairs, train_idm

    idm, info = train_idm(setup["train"], (W, H), steps=300, seed=0, batch=32)
    frames, actions, starts = real_pairs(Recordings(setup["held"], (W, H)), 10_000)
    acc = accuracy(idm, frames[starts], frames[starts + 1], actions[starts])
    # left / none / right: the commonest class is under half the pairs, the IDM reads nearly all
    assert acc["yaw"]["majority_share"] < 0.6 and acc["yaw"]["accuracy"] > 0.9, acc["yaw"]
    assert acc["pitch"]["accuracy"] >= acc["pitch"]["majority_share"] - 0.05, acc["pitch"]
    assert info["steps"] == 300 and info["pairs"] == 6 * 149


def test_missing_data_and_a_discrete_world_are_clear_errors(setup, tmp_path):
    from worldenv.games.minetest.evaluation.run import main

    with pytest.raises(FileNotFoundError, match="no such folder"):
        main(["--model", str(setup["world"]), "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="needs an IDM"):
        main(["--model", str(setup["world"]), "--data", str(setup["held"]), "--out", str(tmp_path / "o")])
    discrete = build_world(tmp_path / "discrete", nvec=(17,))
    with pytest.raises(ValueError, match=r"MultiDiscrete.*Discrete\(17\)"):
        main(["--model", str(discrete), "--data", str(setup["held"]), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o" / "eval_3d.json").exists()
