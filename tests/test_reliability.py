"""Faults: training killed with SIGKILL resumes losing at most one checkpoint interval; a collector
whose worker (or itself) dies leaves a valid index and resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.checkpoint import load_checkpoint
from model.recordings import list_episodes, read_index
from worldenv.collect import CollectConfig, collect

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec")
    collect(CollectConfig(episodes=2, policy="random", out=str(out), seed=21, workers=1, max_steps=48,
                          area=(32, 32), size=(64, 64)), progress=False)
    return out


def logged_steps(log: Path) -> int:
    if not log.exists():
        return 0
    lines = log.read_text().splitlines()
    return int(lines[-1].split(",")[1]) if len(lines) > 1 else 0


def kill_when(proc, cond, timeout=120.0):
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stdout.read()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the run to progress")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def run_kill_resume(cmd, out: Path, kind: str, every: int):
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "log.csv"
    kill_when(proc, lambda: logged_steps(log) >= 3 * every and (out / "last.safetensors").exists())
    reached = logged_steps(log)
    _, meta = load_checkpoint(out / "last.safetensors", kind)  # never corrupt
    assert reached - meta["step"] <= every + 10  # at most one checkpoint interval (+ one log interval) lost
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resumed from {out / 'last.safetensors'} at step {meta['step']}" in done.stdout
    return meta["step"]


def test_kill_train_vae_and_resume(recordings, tmp_path):
    out = tmp_path / "vae"
    cmd = [PY, "scripts/train_vae.py", "--data", str(recordings), "--out", str(out), "--steps", "400",
           "--batch-size", "4", "--ckpt-every", "10", "--log-every", "5", "--channels", "8", "8", "16",
           "--latent-channels", "4", "--no-progress", "--threads", "1"]
    run_kill_resume(cmd, out, "VideoVAE/train", 10)
    assert (out / "vae.safetensors").exists()


def test_kill_train_world_and_resume(recordings, tmp_path, tiny_world):
    lat = tmp_path / "lat"
    enc = subprocess.run([PY, "scripts/encode_latents.py", "--vae", str(tiny_world / "vae.safetensors"),
                          "--data", str(recordings), "--out", str(lat)], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=120)
    assert enc.returncode == 0, enc.stderr
    out = tmp_path / "world"
    cmd = [PY, "scripts/train_world.py", "--latents", str(lat), "--vae", str(tiny_world / "vae.safetensors"),
           "--recordings", str(recordings), "--out", str(out), "--preset", "XS", "--window", "4", "--steps", "300",
           "--batch-size", "2", "--ckpt-every", "10", "--export-every", "1000", "--log-every", "5",
           "--start-bank", "2", "--no-progress", "--threads", "1"]
    run_kill_resume(cmd, out, "SpacetimeDiT/train", 10)
    assert (out / "world" / "dit.safetensors").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc to find worker processes")
def test_collector_worker_dies_then_resume(tmp_path):
    out = tmp_path / "rec"
    cmd = [PY, "scripts/collect.py", "--episodes", "6", "--policy", "random", "--out", str(out), "--workers", "2",
           "--max-steps", "400", "--area", "32", "32", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    while not list(out.glob(".*.part")) and time.time() - t0 < 60:
        time.sleep(0.02)
    workers = [k for k in _children(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text(errors="ignore")]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    output = proc.communicate(timeout=120)[0]
    assert "worker process died" in output
    if (out / "index.json").exists():  # a valid index listing only complete episodes
        for e in read_index(out):
            assert (out / f"{e.name}.mp4").exists()
    rerun = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list_episodes(out)) == 6 and not list(out.glob(".*.part"))


def test_collector_killed_then_resume(tmp_path):
    out = tmp_path / "rec"
    cmd = [PY, "scripts/collect.py", "--episodes", "4", "--policy", "random", "--out", str(out), "--workers", "1",
           "--max-steps", "300", "--area", "32", "32", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kill_when(proc, lambda: (out / "index.json").exists() and list(out.glob(".*.part")))
    first = [e.name for e in read_index(out)]
    rerun = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    names = [e.name for e in read_index(out)]
    assert set(first) <= set(names) and len(names) == 4 and not list(out.glob(".*.part"))


def test_kill_dream_agent_trainer_and_resume(tiny_world, tmp_path):
    """SIGKILL the PPO-in-the-dream trainer mid-run: its checkpoint loads and the run resumes."""
    out = tmp_path / "agent"
    every = 64
    cmd = [PY, "-m", "agents.dream_ppo", "--env", "dream", "--world", str(tiny_world), "--out", str(out),
           "--num-envs", "4", "--dream-horizon", "8", "--n-steps", "8", "--batch-size", "16", "--n-epochs", "1",
           "--ckpt-every", str(every)]
    proc = subprocess.Popen(cmd + ["--timesteps", "100000"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def saved_steps() -> int:
        if not (out / "last.safetensors").exists():
            return 0
        return load_checkpoint(out / "last.safetensors", "PPOPolicy")[1]["num_timesteps"]

    kill_when(proc, lambda: saved_steps() >= 3 * every)
    rows = (out / "progress.csv").read_text().splitlines()
    col = rows[0].split(",").index("time/total_timesteps")
    reached = int(float(rows[-1].split(",")[col]))
    step = saved_steps()  # never corrupt: it loads
    assert reached - step <= every + 32  # at most one checkpoint interval (+ one PPO update) lost
    done = subprocess.run(cmd + ["--timesteps", str(step + 64), "--resume"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resumed from {out / 'last.safetensors'} at {step} steps" in done.stdout
