"""One Minetest singleplayer client: its private HOME, world folder and config, its process, and
the ground-truth state its world mod writes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from worldenv.games.minetest.proc import MinetestError, exited, log_tail, require_binary, spawn, stop

MINETEST = "/usr/games/minetest"
GAME_ID = "minetest_game"
PLAYER = "sora"
MOD_DIR = Path(__file__).resolve().parent / "mod" / "soraworld"
STATE_FILE = "soraworld_state.json"
NETNS = Path(__file__).resolve().parent / "netns.py"
# "auto": a private network namespace where the system allows one, else the host's network;
# "private": require it; "host": never (the server still binds only 127.0.0.1)
NETWORK_MODES = ("auto", "private", "host")

# Settings every client gets. Why each:
BASE_SETTINGS = {
    # singleplayer runs a server; by default it listens on UDP 0.0.0.0:30000
    "bind_address": "127.0.0.1",
    # the window rarely has focus in the WM's sense; a paused game would not move
    "pause_on_lost_focus": "false",
    # the machine has no sound device; shaders and clouds cost CPU under llvmpipe
    "enable_sound": "false",
    "enable_shaders": "false",
    "enable_clouds": "false",
    "enable_minimap": "false",
    "show_debug": "false",
    "fullscreen": "false",
    "camera_smoothing": "0",
    "invert_mouse": "false",
    # aux1 is the sprint key (the mod speeds the player up); never the fast-move privilege
    "fast_move": "false",
    "free_move": "false",
    "noclip": "false",
    "aux1_descends": "false",
    "keymap_aux1": "KEY_KEY_E",
    "keymap_special1": "KEY_KEY_E",  # the same setting's name before 5.5
    "mg_name": "v7",
    # one map generation thread: instances run side by side on few cores. (Map generation stays
    # order-dependent where trees cross chunk borders, so a seed's forests can differ a little.)
    "num_emerge_threads": "1",
    "creative_mode": "false",
    "enable_damage": "true",
    "show_nametag_backgrounds": "false",
    "menu_last_game": GAME_ID,
    "server_announce": "false",
    "show_statusline_on_connect": "false",
    "enable_client_modding": "false",
}


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing uses now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MinetestClient:
    """A Minetest client in singleplayer on the X display `display` (a name like ":3").

    Everything it writes lives in a fresh temporary folder: `home/` (its HOME, so ~/.minetest is
    private), `world/` (world.mt, the sqlite map and the SoraWorld world mod) and `minetest.conf`.
    `close()` ends the process by PID (process group) and deletes the folder.
    """

    def __init__(self, display: str, size: tuple[int, int], map_seed: int, *, fps_max: int = 40,
                 mouse_sensitivity: float = 0.25, viewing_range: int = 40, fov: int = 72,
                 start_items: dict[str, int] | None = None, time_of_day: float | None = None,
                 settings: dict[str, str] | None = None, binary: str = MINETEST, root: str | Path | None = None,
                 network: str = "auto"):
        if network not in NETWORK_MODES:
            raise ValueError(f"network must be one of {NETWORK_MODES}, got {network!r}")
        self.network = network
        self.binary = require_binary(binary, "Minetest")
        self.display = display
        self.size = (int(size[0]), int(size[1]))
        self.map_seed = int(map_seed)
        self.root = Path(tempfile.mkdtemp(prefix="soraworld-minetest-", dir=root))
        self.home = self.root / "home"
        self.world = self.root / "world"
        self.config = self.root / "minetest.conf"
        self.log_path = self.root / "client.log"
        self.state_path = self.world / STATE_FILE
        self.proc = None
        # Every singleplayer game runs a server, on 30000 unless `--port` says otherwise (the `port`
        # setting is not read for it): a free port each lets instances share a network.
        self.port = free_udp_port()
        conf = dict(BASE_SETTINGS)
        conf.update({
            "screen_w": str(self.size[0]),
            "screen_h": str(self.size[1]),
            "fps_max": str(int(fps_max)),
            "fps_max_unfocused": str(int(fps_max)),
            "mouse_sensitivity": repr(float(mouse_sensitivity)),
            "viewing_range": str(int(viewing_range)),
            "fov": str(int(fov)),
            "fixed_map_seed": str(self.map_seed),
            "name": PLAYER,
            "soraworld_state_file": STATE_FILE,
            "soraworld_start_items": ";".join(f"{k} {int(v)}" for k, v in (start_items or {}).items()),
        })
        if time_of_day is not None:
            conf["soraworld_time_of_day"] = repr(float(time_of_day))
        conf.update({k: str(v) for k, v in (settings or {}).items()})
        self.settings = conf

    def _write_files(self) -> None:
        self.home.mkdir()
        (self.world / "worldmods").mkdir(parents=True)
        # Without world.mt the client says "Provided world path doesn't exist".
        (self.world / "world.mt").write_text(
            f"gameid = {GAME_ID}\nbackend = sqlite3\nplayer_backend = sqlite3\nauth_backend = sqlite3\n"
            "mod_storage_backend = sqlite3\ncreative_mode = false\nenable_damage = true\n"
        )
        shutil.copytree(MOD_DIR, self.world / "worldmods" / "soraworld")
        self.config.write_text("".join(f"{k} = {v}\n" for k, v in self.settings.items()))

    def start(self) -> "MinetestClient":
        """Launch the client (it joins its world at once: `--go`)."""
        self._write_files()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MINETEST", "WAYLAND"))}
        env.update({
            "HOME": str(self.home),
            "DISPLAY": self.display,
            # llvmpipe, one render thread: several instances share a few cores
            "LIBGL_ALWAYS_SOFTWARE": "1",
            "LP_NUM_THREADS": "1",
        })
        game = [self.binary, "--config", str(self.config), "--go", "--world", str(self.world),
                "--gameid", GAME_ID, "--name", PLAYER, "--port", str(self.port),
                "--logfile", str(self.root / "debug.txt")]
        if self.network != "host":
            mode = "require" if self.network == "private" else "auto"
            game = [sys.executable, "-I", str(NETNS), mode, *game]
        self.proc = spawn(game, env, self.log_path, cwd=str(self.root))
        return self

    def network_isolated(self) -> bool:
        """The client runs in a network namespace of its own (see netns.py)."""
        try:
            return os.readlink(f"/proc/{self.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def check_alive(self) -> None:
        """Raise MinetestError if the client has exited (with its exit status and log)."""
        if self.proc is None:
            raise MinetestError("the Minetest client is not started")
        status = exited(self.proc)
        if status is not None:
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            raise MinetestError(f"the Minetest client (pid {self.proc.pid}) {how}. {self.log_excerpt()}")

    def port_taken(self) -> bool:
        """The client exited because its server's port was taken (another process got it first)."""
        return "Failed to bind socket" in log_tail(self.root / "debug.txt", 40)

    def log_excerpt(self) -> str:
        tail = log_tail(self.root / "debug.txt") or log_tail(self.log_path)
        return f"Its log ends:\n{tail}" if tail else "It wrote no log."

    def read_state(self) -> dict | None:
        """The world mod's latest state (None before the player has joined or mid-write)."""
        try:
            text = self.state_path.read_text()
        except OSError:
            return None
        try:
            state = json.loads(text)
        except json.JSONDecodeError:
            return None  # safe_file_write renames into place, but be lenient anyway
        return state if isinstance(state, dict) else None

    def wait_state(self, timeout: float) -> dict:
        """The first state the mod writes, once the player is in the world."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.check_alive()
            state = self.read_state()
            if state is not None:
                return state
            time.sleep(0.05)
        raise MinetestError(
            f"the Minetest client (pid {self.pid}) did not join its world within {timeout:g} s. {self.log_excerpt()}"
        )

    def close(self, keep_files: bool = False) -> None:
        """End the client by PID (SIGTERM lets it save and exit; SIGKILL after 3 s) and delete its folder."""
        try:
            stop(self.proc)
        finally:
            if not keep_files:
                shutil.rmtree(self.root, ignore_errors=True)
