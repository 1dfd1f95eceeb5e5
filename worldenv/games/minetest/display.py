"""A private X display: Xvfb on a free display number, started and ended by PID."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

from worldenv.games.minetest.proc import (
    MinetestError,
    exited,
    log_tail,
    require_binary,
    spawn,
    stop,
    wait_for,
)

XVFB = "/usr/bin/Xvfb"


class XvfbDisplay:
    """An Xvfb server with one screen of `size` (W, H) at 24 bits, only on a local socket.

    Xvfb picks the first free display number itself (`-displayfd`), so parallel envs never race
    for one. `-nolisten tcp` keeps it off the network; `-noreset` keeps it up while the Minetest
    client restarts between episodes. `close()` ends it by PID.
    """

    def __init__(self, size: tuple[int, int], log_path: str | Path, binary: str = XVFB, timeout: float = 10.0):
        self.size = (int(size[0]), int(size[1]))
        self.log_path = Path(log_path)
        self.binary = binary
        self.timeout = timeout
        self.proc = None
        self.number: int | None = None

    @property
    def name(self) -> str:
        """The DISPLAY value, e.g. ":3"."""
        if self.number is None:
            raise MinetestError("the X display is not started")
        return f":{self.number}"

    def start(self) -> "XvfbDisplay":
        binary = require_binary(self.binary, "Xvfb")
        read_fd, write_fd = os.pipe()
        w, h = self.size
        args = [binary, "-displayfd", str(write_fd), "-screen", "0", f"{w}x{h}x24",
                "-nolisten", "tcp", "-noreset", "-nocursor"]
        try:
            self.proc = spawn(args, dict(os.environ), self.log_path, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        try:
            text = self._read_number(read_fd)
        finally:
            os.close(read_fd)
        if not text.strip().isdigit():
            # EOF comes as Xvfb exits; give the kernel a moment to report its status
            status = wait_for(lambda: exited(self.proc), 1.0, interval=0.02) or exited(self.proc)
            self.close()
            why = f"exited with status {status}" if status is not None else f"gave no display in {self.timeout:g} s"
            raise MinetestError(
                f"the X display could not start: Xvfb {why}. Its log ({self.log_path}):\n{log_tail(self.log_path)}"
            )
        self.number = int(text)
        return self

    def _read_number(self, fd: int) -> str:
        # Xvfb writes "N\n" once it accepts connections; EOF means it died first.
        text, end = b"", time.monotonic() + self.timeout
        while not text.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 64)
            if not chunk:
                break
            text += chunk
        return text.decode(errors="replace")

    def alive(self) -> bool:
        """Xvfb still runs."""
        return self.proc is not None and exited(self.proc) is None

    def close(self) -> None:
        """End Xvfb (by its PID's process group)."""
        stop(self.proc)
        self.number = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid
