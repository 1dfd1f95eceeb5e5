"""Run a program in a private network namespace that has only its own loopback.

    python -I netns.py {auto|require} PROGRAM [ARGS...]

Minetest's singleplayer server binds `bind_address` (127.0.0.1), but its client's UDP socket is
bound to 0.0.0.0 by the engine, with no setting to change it. In a namespace of its own the game
can reach nothing and nothing can reach it, and parallel instances cannot clash on ports. Root
gets the namespace directly; other users through a user namespace that maps only their own ids
(unprivileged user namespaces must be allowed). With "auto" a refused namespace means the program
runs in the ordinary network, with a warning on stderr; with "require" this exits with status 97.

Started as a plain script (`python -I`, no project imports) so it runs single-threaded and fast,
then replaces itself with PROGRAM (execv): the PID, the process group and the parent-death signal
set by the parent stay with PROGRAM.
"""

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40
REFUSED = 97


def private_network() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    if uid != 0:
        # Map our own ids to themselves: files keep their owners, and we hold capabilities in the
        # new namespace until execv (enough to bring the loopback up).
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def main() -> None:
    mode, program = sys.argv[1], sys.argv[2:]
    try:
        private_network()
    except OSError as e:
        if mode == "require":
            print(f"netns: no private network namespace ({e})", file=sys.stderr, flush=True)
            os._exit(REFUSED)
        print(f"netns: no private network namespace ({e}); running in the host's network",
              file=sys.stderr, flush=True)
    os.execv(program[0], program)


if __name__ == "__main__":
    main()
