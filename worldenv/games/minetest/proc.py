"""Child processes that end with their parent: their own session (process group), a parent-death
signal, and a group kill by PID.

Both Xvfb and Minetest are started here. `start_new_session=True` puts each in its own process
group, so `stop` ends exactly that group (the process and anything it forked) and nothing else;
`PR_SET_PDEATHSIG` makes the kernel send SIGKILL when the Python process dies, even by SIGKILL,
so no Xvfb or Minetest outlives it. Linux only (prctl).

The parent-death signal fires when the *thread* that started the child ends: start envs from a
thread that lives as long as they do (the main thread, or a worker process's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1

INSTALL_HELP = (
    "Minetest needs the Debian packages minetest, minetest-data (minetest_game) and xvfb: run "
    "`make minetest-deps`, or as root `apt-get update && apt-get install -y --no-install-recommends "
    "minetest minetest-data xvfb`."
)

# Loaded in the parent: loading a library between fork and exec could deadlock on the loader's lock.
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class MinetestError(RuntimeError):
    """The Minetest client or its X display failed: it would not start, exited, or stopped answering."""


def _die_with_parent(parent_pid: int):
    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def require_binary(path: str | Path, what: str) -> str:
    """`path` if it is an executable file, else FileNotFoundError with the install command."""
    path = str(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{what} not found at {path}. {INSTALL_HELP}")
    return path


def spawn(args: list[str], env: dict, log_path: Path, **kwargs) -> subprocess.Popen:
    """Start `args` in a new session that dies with this process; stdout and stderr go to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
            **kwargs,
        )


def exited(proc: subprocess.Popen) -> int | None:
    """`proc`'s exit status (negative: killed by that signal) if it has ended, else None.

    It does not reap the child: while unreaped its PID, and so its process group id, cannot be
    taken by another process, which keeps a later group kill aimed at ours."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll()
    if info is None:
        return None
    return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status


def stop(proc: subprocess.Popen | None, grace: float = 3.0) -> None:
    """End `proc`'s process group: SIGTERM (a clean exit), then SIGKILL after `grace` seconds; reaps it.

    The group id is the child's PID (it leads its own session), so only processes this module
    started are signalled; the leader is reaped last, so the id stays ours until then."""
    if proc is None or proc.returncode is not None:
        return
    pgid = proc.pid
    if exited(proc) is None:
        _killpg(pgid, signal.SIGTERM)
        _killpg(pgid, signal.SIGCONT)  # a stopped process handles SIGTERM only once continued
        wait_for(lambda: exited(proc) is not None, grace, interval=0.02)
    # Whatever the leader forked may still run in its group, even after the leader exited.
    _killpg(pgid, signal.SIGKILL)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired as e:  # pragma: no cover - SIGKILL cannot be ignored
        raise MinetestError(f"process {pgid} survived SIGKILL") from e


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(path: Path, n: int = 15) -> str:
    """The last `n` lines of a log file ("" when it does not exist)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def wait_for(cond, timeout: float, interval: float = 0.05):
    """Poll `cond()` until it returns something truthy (returned) or `timeout` seconds pass (None)."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= end:
            return None
        time.sleep(interval)
