"""Hostile tests (issue 39) of the collector: killing only its parent leaves no worker running, the
folder's lock covers the workers, episode files the index does not list are moved aside by the next
run, and no `.collect.lock` is left behind by a normal run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.recordings import list_episodes, read_index
from worldenv.collect import LOCK_NAME, CollectConfig, collect

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def small(tmp_path, **kw):
    base = dict(episodes=2, policy="random", out=str(tmp_path / "rec"), seed=0, workers=1, max_steps=12,
                area=(32, 32), size=(64, 64))
    return CollectConfig(**{**base, **kw})


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap orphans at once)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_normal_run_leaves_no_lock_file(tmp_path):
    collect(small(tmp_path), progress=False)
    assert not (tmp_path / "rec" / LOCK_NAME).exists()
    assert len(read_index(tmp_path / "rec")) == 2


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc to find worker processes")
def test_killing_the_collector_kills_its_workers(tmp_path):
    out = tmp_path / "rec"
    cmd = [PY, "scripts/collect.py", "--episodes", "4", "--policy", "random", "--out", str(out), "--workers", "2",
           "--max-steps", "5000", "--area", "32", "32", "--size", "64", "64", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while len(list(out.glob(".*.part"))) < 4 and time.time() - t0 < 60:  # both workers recording
            time.sleep(0.05)
        workers = [k for k in children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text(errors="ignore")]
        assert len(workers) == 2, "the workers did not start"
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as `kill -9 PID` does
        proc.wait(timeout=10)
        t0 = time.time()
        while any(running(w) for w in workers) and time.time() - t0 < 10:
            time.sleep(0.05)
        assert not any(running(w) for w in workers), "workers outlived the collector"
    finally:
        if proc.poll() is None:
            proc.kill()
    # the next run starts: the killed run's lock file is held by no one, its partial files go
    collect(small(tmp_path, episodes=1), progress=False)
    assert len(list_episodes(out)) == 1 and not list(out.glob(".*.part")) and not (out / LOCK_NAME).exists()


def test_the_lock_covers_the_workers_of_a_killed_collector(tmp_path):
    """A worker that outlived its collector still holds the folder: a second collector is refused
    until it is gone."""
    out = tmp_path / "rec"
    out.mkdir()
    lock = out / LOCK_NAME
    lock.touch()  # a killed collector's lock file stays
    code = ("import os, sys, time\n"
            "from worldenv.collect import _worker_init\n"
            "_worker_init(os.getppid(), sys.argv[1], os.stat(sys.argv[1]).st_ino)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n")
    worker = subprocess.Popen([PY, "-c", code, str(lock)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "locked"
        with pytest.raises(SystemExit, match="another collector is writing"):
            collect(small(tmp_path), progress=False)
        assert not list(out.glob("*.mp4"))
    finally:
        worker.kill()
        worker.wait()
    collect(small(tmp_path), progress=False)
    assert len(read_index(out)) == 2


def test_episode_files_the_index_does_not_list_are_moved_aside_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "rec"
    collect(small(tmp_path, episodes=1), progress=False)
    # a worker of a killed run finished two episodes after the index was last written
    for name in ("crafter_random_0000001", "crafter_random_0000009"):
        for ext in ("mp4", "jsonl"):
            shutil.copy(out / f"crafter_random_0000000.{ext}", out / f"{name}.{ext}")
    mine = out / "my_notes.jsonl"  # not of the collector's naming: left alone
    mine.write_text("{}\n")
    collect(small(tmp_path, episodes=2), progress=False)
    assert "moved 4 episode files" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "unlisted").iterdir()) == [
        f"{n}.{e}" for n in ("crafter_random_0000001", "crafter_random_0000009") for e in ("jsonl", "mp4")]
    listed = {e.name for e in read_index(out)}
    assert listed == {"crafter_random_0000000", "crafter_random_0000001"}
    on_disk = {p.stem for p in out.glob("*.mp4")}
    assert on_disk == listed and mine.exists()
