"""Minetest (Luanti) with minetest_game, the open Minecraft-like voxel game, as a Gymnasium env.

Each env runs its own Xvfb display and Minetest singleplayer client (software OpenGL), in its own
temporary HOME and world folder, and ends exactly those processes on `close()`. Frames are grabbed
from the display; the ground truth (pose, hp, inventory, the pointed block) comes from a small world
mod (`mod/soraworld`). The game runs in real time: a `step` holds its action for one tick of
`tick_rate` Hz and returns the frame at the tick's end.

Actions are MineRL 1.0's (the VPT layout, `model.vpt`): 23 buttons and a camera [pitch, yaw] in
degrees (+pitch looks down, +yaw turns right), as the Dict space or its MultiDiscrete flattening.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from model.vpt import MINERL_BUTTONS, N_BUTTONS, bins_to_camera, check_multidiscrete
from worldenv.games.minecraft.minerl import minerl_dict_space, minerl_multidiscrete_space
from worldenv.games.minetest.caption import caption
from worldenv.games.minetest.client import MINETEST, MinetestClient
from worldenv.games.minetest.display import XVFB, XvfbDisplay
from worldenv.games.minetest.proc import MinetestError, exited
from worldenv.games.minetest.xinput import XSession

MINETEST_ID = "SoraWorld/Minetest-v0"
# The id's registration: real time, so the same seed and actions give close, not equal, frames.
MINETEST_SPEC = EnvSpec(id=MINETEST_ID, entry_point="worldenv.games.minetest.env:MinetestEnv",
                        nondeterministic=True)
DEFAULT_SIZE = (160, 120)  # (W, H): 4:3, the size the probe measured; any even 4:3 size works
TICK_RATE = 20.0  # VPT's and MineRL's rate

# MineRL button -> the X key Minetest binds it to (its default keymap; aux1 set to E in client.py).
BUTTON_KEYS = {
    "forward": "w",
    "back": "s",
    "left": "a",
    "right": "d",
    "jump": "space",
    "sneak": "Shift_L",
    "sprint": "e",  # aux1: the world mod makes it a sprint
    "drop": "q",
    **{f"hotbar.{i}": str(i) for i in range(1, 10)},
}
# MineRL button -> X mouse button (1 left: dig, 3 right: place).
BUTTON_MOUSE = {"attack": 1, "use": 3}
# Buttons with no safe Minetest counterpart, accepted and ignored: ESC and inventory open menus that
# take the mouse away from the camera; Minetest has no pick-block or off-hand.
IGNORED_BUTTONS = ("ESC", "inventory", "pickItem", "swapHands")


def sensitivity_scale(size: tuple[int, int], fov: float) -> float:
    """Minetest 5.6's mouse turn per pixel is `mouse_sensitivity` times this (degrees).

    The engine scales turns by tan(fov_y / 2) * 1.3763818698 (1.0 at 72 degrees and 16:9), and
    widens the vertical fov by clamp(sqrt(1.6 / aspect), 1, 1.4) below 16:10 (src/client/camera.cpp,
    game.cpp). Measured at 160x120, fov 72: 1.1317 (a 40 px motion turned 11.32 degrees)."""
    aspect = size[0] / size[1]
    fov_y = math.radians(fov) * min(max(math.sqrt(1.6 / aspect), 1.0), 1.4)
    return math.tan(fov_y / 2.0) * 1.3763818698


class MinetestEnv(gym.Env):
    """Minetest singleplayer (minetest_game, mapgen v7) with MineRL 1.0 actions.

    Observations: (H, W, 3) uint8 RGB frames of `size` (W, H), 160x120 by default (any even 4:3
    size). The hotbar, hearts and chat are hidden (at 160x120 they would cover a third of the
    view); the hand with its wielded item and the crosshair stay.

    Actions (`action_format`): "multidiscrete" (default) is `MultiDiscrete([2]*23 + [11, 11])`, the
    buttons and VPT's mu-law camera bins (+-10 degrees a tick); "dict" is MineRL's Dict with a
    `camera` Box(-180, 180, (2,)) in degrees (a dict may leave out buttons, not pressed, and the
    camera, no turn; a turn wider than half the screen takes a frame per half screen).
    forward/back/left/right/jump/sneak/sprint/drop and hotbar.1-9 hold keys (sprint is Minetest's
    aux1, which the world mod turns into a 1.3x sprint; drop is Minetest's drop key, which throws
    the wielded stack); attack/use hold the left/right mouse button (dig, place); ESC, inventory,
    pickItem and swapHands are accepted and do nothing (the first two would open menus). The camera
    moves the pointer `camera / deg_per_px` pixels from the window's centre (`mouse_sensitivity` is
    set so that one pixel turns `deg_per_px` degrees); fractions of a pixel carry over to the next
    tick, so turns add up exactly.

    Timing: the game runs in real time. `step` applies the action, holds it until the tick's end
    (ticks of 1/`tick_rate` s from the previous frame) and returns the frame grabbed then. Keys stay
    held between steps, so a slow caller holds the action longer: `info["tick_duration"]` is the
    real time since the previous frame, `info["tick_overrun"]` flags ticks over 1.5 periods.

    Info: `pose` {x, y, z, yaw, pitch} (blocks; degrees: yaw 0 faces +z and grows turning right,
    like the camera's +yaw; pitch grows looking down), `hp`, `breath`, `wielded`, `wield_index`,
    `inventory` {item: count}, `hotbar` (the items in slots 1-9), `time_of_day` (0..1, 0.5 noon),
    `ground` (the node under the feet), `biome`, `pointed` (node, pos, distance, up to 32 blocks;
    or None), `caption`, `map_seed`, `step`, `tick_duration`, `tick_overrun`, `new_items`. The
    ground truth is the server's, read from the world mod's file: while moving, the pose trails
    the frame by a server step or two (30-100 ms); standing, they agree.

    Reward: +1 for each kind of item that enters the inventory for the first time in the episode.
    Terminated when hp reaches 0; truncated after `max_steps` steps (None: never).

    `reset(seed=)` starts a new client on a new world whose map seed is drawn from the env's
    seeded generator (`options={"map_seed": n}` sets it): the same seed gives the same spawn,
    terrain and first frame, except that Minetest's map generation depends on the order in which
    chunks are made where trees cross chunk borders, so a forest can differ by a few trees. A
    client that exits or stops writing its state raises `MinetestError`; `reset()` starts a new one.
    The client runs in a private network namespace where the system allows one (`network`, see
    `client.py`); `close()` ends the client and Xvfb by PID, and both die with the Python process.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": TICK_RATE}

    def __init__(
        self,
        size: tuple[int, int] = DEFAULT_SIZE,
        action_format: str = "multidiscrete",
        tick_rate: float = TICK_RATE,
        max_steps: int | None = None,
        render_mode: str | None = None,
        fps_max: int = 40,
        deg_per_px: float = 0.25,
        viewing_range: int = 40,
        fov: int = 72,
        start_items: dict[str, int] | None = None,
        time_of_day: float | None = None,
        settings: dict[str, str] | None = None,
        binary: str = MINETEST,
        xvfb: str = XVFB,
        network: str = "auto",
        start_timeout: float = 30.0,
        hang_timeout: float = 10.0,
        settle_time: tuple[float, float] = (1.5, 6.0),
    ):
        size = (int(size[0]), int(size[1]))
        if size[0] * 3 != size[1] * 4 or size[0] % 2 or size[1] % 2 or size[1] < 48:
            raise ValueError(f"size must be an even 4:3 (W, H) of at least 64x48, e.g. (160, 120); got {size}")
        if action_format not in ("multidiscrete", "dict"):
            raise ValueError(f"action_format must be 'multidiscrete' or 'dict', got {action_format!r}")
        if not (tick_rate > 0):
            raise ValueError(f"tick_rate must be > 0, got {tick_rate!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {max_steps!r}")
        self.size = size
        self.action_format = action_format
        self.tick_rate = float(tick_rate)
        self.period = 1.0 / self.tick_rate
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.fps_max = int(fps_max)
        self.deg_per_px = float(deg_per_px)
        self.fov = int(fov)
        self.viewing_range = int(viewing_range)
        self.start_items = dict(start_items or {})
        self.time_of_day = time_of_day
        self.settings = dict(settings or {})
        self.binary = binary
        self.xvfb = xvfb
        self.network = network
        self.start_timeout = float(start_timeout)
        self.hang_timeout = float(hang_timeout)
        self.settle_time = settle_time
        self.metadata = {**self.metadata, "render_fps": self.tick_rate}

        self.observation_space = spaces.Box(0, 255, (size[1], size[0], 3), np.uint8)
        self.action_space = minerl_multidiscrete_space() if action_format == "multidiscrete" else minerl_dict_space()
        # the largest pointer offset that stays on the screen, with a pixel to spare
        self._max_px = min(size[0], size[1]) // 2 - 2

        self._tmp = Path(tempfile.mkdtemp(prefix="soraworld-minetest-env-"))
        self.display: XvfbDisplay | None = None
        self.client: MinetestClient | None = None
        self.x: XSession | None = None
        self._closed = False
        self._frame: np.ndarray | None = None
        self._state: dict | None = None
        self._state_seq = None
        self._state_time = 0.0
        self._residual = np.zeros(2)
        self._frame_time = 0.0
        self._steps = 0
        self._seen: set[str] = set()
        self.map_seed: int | None = None
        self._last_client: MinetestClient | None = None
        #: every PID this env has started (Xvfb, each client), for checks that none outlives it
        self.started_pids: list[int] = []

    # ------------------------------------------------------------ processes

    def pids(self) -> list[int]:
        """The PIDs of this env's current Xvfb and client that still run."""
        procs = [p for p in (self.display and self.display.proc, self.client and self.client.proc) if p is not None]
        return [p.pid for p in procs if exited(p) is None]

    def _start_display(self) -> None:
        if self.display is not None and self.display.alive():
            return
        if self.display is not None:
            self._stop_display()
        self.display = XvfbDisplay(self.size, self._tmp / "xvfb.log", binary=self.xvfb)
        try:
            self.display.start()
        finally:
            if self.display.pid is not None:
                self.started_pids.append(self.display.pid)
        try:
            self.x = XSession(self.display.name, self.size)
        except BaseException:
            self._stop_display()
            raise

    def _stop_display(self) -> None:
        if self.x is not None:
            self.x.close()
            self.x = None
        if self.display is not None:
            self.display.close()
            self.display = None

    def _stop_client(self) -> None:
        if self.x is not None:
            try:
                self.x.forget_window()
            except Exception:  # noqa: BLE001 - the display may be gone
                pass
        if self.client is not None:
            self.client.close()
            self.client = None

    def _start_client(self, map_seed: int, start_items: dict, time_of_day: float | None) -> None:
        for attempt in range(3):
            try:
                return self._start_client_once(map_seed, start_items, time_of_day)
            except MinetestError:
                # the free port we picked can be taken before the client binds it: pick another
                if attempt == 2 or self._last_client is None or not self._last_client.port_taken():
                    raise

    def _start_client_once(self, map_seed: int, start_items: dict, time_of_day: float | None) -> None:
        # The binary is checked before anything starts, so a missing install says so at once.
        self._last_client = None
        client = MinetestClient(
            "", self.size, map_seed, fps_max=self.fps_max,
            mouse_sensitivity=self.deg_per_px / sensitivity_scale(self.size, self.fov),
            viewing_range=self.viewing_range, fov=self.fov, start_items=start_items,
            time_of_day=time_of_day, settings=self.settings, binary=self.binary, root=self._tmp,
            network=self.network,
        )
        self._last_client = client
        try:
            self._start_display()
            client.display = self.display.name
            self.client = client
            client.start()
            self.started_pids.append(client.pid)
            state = client.wait_state(self.start_timeout)
            end = time.monotonic() + self.start_timeout
            while not self.x.focus():
                client.check_alive()
                if time.monotonic() > end:
                    raise MinetestError(f"the Minetest window did not appear within {self.start_timeout:g} s")
                time.sleep(0.05)
            self.x.tap("F2")  # hide the chat (the server's join messages)
            if self.network == "auto" and not client.network_isolated() and not getattr(self, "_net_warned", False):
                self._net_warned = True
                warnings.warn("no private network namespace here: the Minetest client's own UDP socket is bound to "
                              "0.0.0.0 (the engine has no setting for it; its server stays on 127.0.0.1)", stacklevel=3)
            self._settle(state)
        except BaseException:
            self.client = None
            self._stop_client()
            client.close(keep_files=True)  # its log tells why (port_taken); the env's folder goes at close()
            raise

    def _settle(self, state: dict) -> None:
        """Wait until the new world is drawn: terrain meshed, the sky faded in, the player landed.

        The first frame of a seed is then the same from run to run (within a few grey levels)."""
        low, high = self.settle_time
        start = time.monotonic()
        prev, prev_pos, calm = None, None, 0
        while True:
            time.sleep(0.25)
            self.client.check_alive()
            frame = self.x.grab()
            state = self.client.read_state() or state
            pos = np.array(state["pos"], float)
            if prev is not None:
                still = np.abs(frame.astype(np.int16) - prev).mean() < 0.6
                landed = np.abs(pos - prev_pos).max() < 0.01
                calm = calm + 1 if still and landed else 0
            prev, prev_pos = frame, pos
            waited = time.monotonic() - start
            if (waited >= low and calm >= 2) or waited >= high:
                return

    # ------------------------------------------------------------ Gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """A new world: map seed from the seeded generator (or `options["map_seed"]`); options may
        also set `time_of_day` (0..1) and `start_items` ({item: count}) for this episode."""
        super().reset(seed=seed)
        if self._closed:
            raise MinetestError("the env is closed")
        options = dict(options or {})
        unknown = set(options) - {"map_seed", "time_of_day", "start_items"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: map_seed, time_of_day, start_items")
        drawn = int(self.np_random.integers(1, 2**62))
        self.map_seed = int(options.get("map_seed", drawn))
        self._stop_client()
        self._start_client(
            self.map_seed, dict(options.get("start_items", self.start_items)),
            options.get("time_of_day", self.time_of_day),
        )
        self._residual[:] = 0.0
        self._steps = 0
        self._state, self._state_seq, self._state_time = None, None, time.monotonic()  # the new client's
        self._frame = self.x.grab()
        self._frame_time = time.monotonic()
        self._state = self._fresh_state(self.client.read_state())
        self._seen = set(self._inventory(self._state))
        return self._frame.copy(), self._info(self._state, tick=0.0, new_items=[])

    def step(self, action):
        buttons, camera = self._parse_action(action)
        if self.client is None:
            raise MinetestError("call reset() before step() (and again after a client error)")
        try:
            self.client.check_alive()
            if not self.display.alive():
                raise MinetestError(f"the X display {self.display.name} (Xvfb pid {self.display.pid}) has exited")
            self.x.focus()
            self._apply(buttons, camera)
            # hold until the tick's end (one period after the previous frame; later if we are late)
            now = time.monotonic()
            end = self._frame_time + self.period
            if end < now:
                end = now + self.period
            time.sleep(max(0.0, end - time.monotonic()))
            self._frame = self.x.grab()
            self.client.check_alive()
        except MinetestError:
            self._stop_client()
            raise
        except Exception as e:  # the X connection breaks when the display dies
            status = "running" if self.display is not None and self.display.alive() else "gone"
            self._stop_client()
            raise MinetestError(f"lost the game's X display ({status}): {e!r}") from e
        now = time.monotonic()
        tick = now - self._frame_time
        self._frame_time = now
        state = self._fresh_state(self.client.read_state())
        self._steps += 1

        held = self._inventory(state)
        new_items = sorted(set(held) - self._seen)
        self._seen |= set(new_items)
        reward = float(len(new_items))
        terminated = float(state.get("hp", 20)) <= 0
        truncated = self.max_steps is not None and self._steps >= self.max_steps and not terminated
        info = self._info(state, tick=tick, new_items=new_items)
        return self._frame.copy(), reward, bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._frame is None else self._frame.copy()
        return None

    def close(self):
        """End the client and Xvfb (by PID, process group) and delete the temporary folders."""
        try:
            self._stop_client()
        finally:
            self._stop_display()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._closed = True

    def __del__(self):
        # Processes die with the Python process anyway (parent-death signal); this frees them sooner.
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------ actions

    def _parse_action(self, action) -> tuple[set[str], np.ndarray]:
        """(buttons pressed, camera [pitch, yaw] degrees), or ValueError naming the space."""
        space = self.action_space
        try:
            if self.action_format == "multidiscrete":
                if isinstance(action, dict):
                    raise ValueError("got a dict")
                vec = check_multidiscrete(action)
                if vec.shape != (N_BUTTONS + 2,):
                    raise ValueError(f"shape {vec.shape}")
                pressed = {MINERL_BUTTONS[i] for i in range(N_BUTTONS) if vec[i]}
                return pressed, bins_to_camera(vec[N_BUTTONS:]).astype(np.float64)
            if not isinstance(action, dict):
                raise ValueError(f"got {type(action).__name__}")
            unknown = set(action) - set(MINERL_BUTTONS) - {"camera"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
            pressed = set()
            for name in MINERL_BUTTONS:
                if name in action:
                    v = np.asarray(action[name])
                    if v.size != 1 or v.dtype.kind not in "biu" or int(v.reshape(())) not in (0, 1):
                        raise ValueError(f"{name}={action[name]!r}")
                    if int(v.reshape(())):
                        pressed.add(name)
            camera = np.asarray(action.get("camera", (0.0, 0.0)), dtype=np.float64)
            if camera.shape != (2,) or not np.all(np.isfinite(camera)) or np.any(np.abs(camera) > 180.0):
                raise ValueError(f"camera={action.get('camera')!r}")
            return pressed, camera
        except ValueError as e:
            raise ValueError(f"action {action!r} is not in the action space {space} ({e})") from None

    def _apply(self, buttons: set[str], camera: np.ndarray) -> None:
        x = self.x
        x.set_keys({x.keycode(BUTTON_KEYS[b]) for b in buttons if b in BUTTON_KEYS})
        x.set_buttons({BUTTON_MOUSE[b] for b in buttons if b in BUTTON_MOUSE})
        # camera [pitch, yaw] -> pointer (dy, dx); keep the fraction of a pixel for the next tick
        px = camera[::-1] / self.deg_per_px + self._residual
        move = np.round(px)
        self._residual = px - move
        dx, dy = int(move[0]), int(move[1])
        while dx or dy:
            sx = max(-self._max_px, min(self._max_px, dx))
            sy = max(-self._max_px, min(self._max_px, dy))
            self._move(sx, sy)
            dx, dy = dx - sx, dy - sy
        x.flush()

    def _move(self, dx: int, dy: int) -> None:
        """Offset the pointer from the centre once the client has read the last offset (it puts the
        pointer back at the centre each frame); a move before that would overwrite it."""
        x = self.x
        end = time.monotonic() + 0.5
        while x.pointer() != x.centre and time.monotonic() < end:
            time.sleep(0.002)
        x.move(dx, dy)
        x.flush()

    # ------------------------------------------------------------ state

    def _fresh_state(self, state: dict | None) -> dict:
        """The mod's latest state; a MinetestError when it has not changed for `hang_timeout` s."""
        now = time.monotonic()
        if state is not None and state.get("seq") != self._state_seq:
            self._state, self._state_seq, self._state_time = state, state.get("seq"), now
        if self._state is None:
            raise MinetestError("the Minetest world mod wrote no state")
        if now - self._state_time > self.hang_timeout:
            pid = self.client.pid if self.client else None
            self._stop_client()
            raise MinetestError(
                f"the Minetest client (pid {pid}) is hung: its game state has not changed for "
                f"{self.hang_timeout:g} s"
            )
        return self._state

    @staticmethod
    def _inventory(state: dict) -> dict[str, int]:
        return {str(k): int(v) for k, v in (state.get("inventory") or {}).items()}

    def _info(self, state: dict, tick: float, new_items: list[str]) -> dict[str, Any]:
        x, y, z = (float(v) for v in state["pos"])
        yaw = (-math.degrees(float(state["yaw"])) + 180.0) % 360.0 - 180.0
        pointed = state.get("pointed")
        if pointed:
            pointed = {"node": str(pointed["node"]), "pos": [int(round(v)) for v in pointed["pos"]],
                       "distance": round(float(pointed["distance"]), 3)}
        return {
            "pose": {"x": x, "y": y, "z": z, "yaw": yaw, "pitch": math.degrees(float(state["pitch"]))},
            "hp": int(round(float(state.get("hp", 0)))),
            "breath": int(round(float(state.get("breath", 0)))),
            "wielded": str(state.get("wielded") or ""),
            "wield_index": int(state.get("wield_index", 1)),
            "inventory": self._inventory(state),
            "hotbar": [str(n) for n in (state.get("hotbar") or [])][:9],
            "time_of_day": float(state.get("time_of_day", 0.0)),
            "ground": str(state.get("ground") or ""),
            "biome": state.get("biome"),
            "pointed": pointed or None,
            "caption": caption(state),
            "map_seed": self.map_seed,
            "step": self._steps,
            "tick_duration": float(tick),
            "tick_overrun": bool(tick > 1.5 * self.period),
            "new_items": list(new_items),
        }


def tick_cpu(pid: int) -> float:
    """CPU seconds (user + system) that process `pid` has used (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
