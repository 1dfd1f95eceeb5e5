"""VPT recordings and the MineRL 1.0 action space, in plain numpy (no gym, no minerl).

OpenAI's VPT contractor data stores one JSON object per video frame with the raw input of
that frame: pressed keyboard keys (`"key.keyboard.w"`, ...), pressed mouse buttons and the
mouse movement in pixels. This module turns those into MineRL 1.0 actions (a dict of 23
binary buttons plus a `camera` [pitch, yaw] in degrees) and flattens MineRL actions to a
25-long integer vector (23 buttons, pitch bin, yaw bin) that agents without Dict-action
support (stable-baselines3) and the world model's action embedding can use.

Camera angles are quantised as in VPT: clip to +-`CAMERA_MAXVAL` degrees, mu-law encode
(fine steps near zero, where most mouse motion is), then `CAMERA_BINS` uniform bins.

Conventions: camera is [pitch, yaw]; +pitch looks down, +yaw turns right (the same sign as
the mouse's dy, dx). Camera motion while a GUI is open moves the cursor, not the view; the
converters keep it (they report what the mouse did) and return `gui` so callers can mask it.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from model.recordings import RecordingError

# MineRL 1.0's binary keys, sorted like its Dict space sorts them (ASCII: "ESC" first).
MINERL_BUTTONS: tuple[str, ...] = (
    "ESC",
    "attack",
    "back",
    "drop",
    "forward",
    *(f"hotbar.{i}" for i in range(1, 10)),
    "inventory",
    "jump",
    "left",
    "pickItem",
    "right",
    "sneak",
    "sprint",
    "swapHands",
    "use",
)
N_BUTTONS = len(MINERL_BUTTONS)  # 23
_BUTTON_INDEX = {b: i for i, b in enumerate(MINERL_BUTTONS)}

CAMERA_BINS = 11
CAMERA_MAXVAL = 10.0  # degrees; larger per-frame turns are clipped
CAMERA_MU = 10.0
CAMERA_CENTER_BIN = CAMERA_BINS // 2  # 5: the bin of "no camera motion"
_CAMERA_BINSIZE = 2 * CAMERA_MAXVAL / (CAMERA_BINS - 1)  # in mu-law-encoded degrees

# Minecraft's default mouse sensitivity: 2400 mouse pixels turn the view a full circle.
CAMERA_SCALE = 360.0 / 2400.0

MULTIDISCRETE_NVEC = np.array([2] * N_BUTTONS + [CAMERA_BINS, CAMERA_BINS], dtype=np.int64)
ACTION_DIM = len(MULTIDISCRETE_NVEC)  # 25

KEY_TO_BUTTON: dict[str, str] = {
    "key.keyboard.w": "forward",
    "key.keyboard.s": "back",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.space": "jump",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
    "key.keyboard.e": "inventory",
    "key.keyboard.q": "drop",
    "key.keyboard.f": "swapHands",
    "key.keyboard.escape": "ESC",
    **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)},
}
MOUSE_TO_BUTTON: dict[int, str] = {0: "attack", 1: "use", 2: "pickItem"}


# ---------------------------------------------------------------- camera quantisation


def _mu_encode(x: np.ndarray) -> np.ndarray:
    """Degrees in [-maxval, maxval] -> mu-law-compressed degrees in the same range."""
    u = np.abs(x) / CAMERA_MAXVAL
    return np.sign(x) * np.log1p(CAMERA_MU * u) / math.log1p(CAMERA_MU) * CAMERA_MAXVAL


def _mu_decode(y: np.ndarray) -> np.ndarray:
    """Inverse of `_mu_encode`."""
    u = np.abs(y) / CAMERA_MAXVAL
    return np.sign(y) * np.expm1(u * math.log1p(CAMERA_MU)) / CAMERA_MU * CAMERA_MAXVAL


def camera_to_bins(camera) -> np.ndarray:
    """Quantise camera angles (degrees, any shape, usually (..., 2)) to int64 bins in [0, 10].

    Elementwise: clip to +-CAMERA_MAXVAL, mu-law encode, round to the nearest of
    CAMERA_BINS uniform bins. 0 degrees -> bin 5; monotone; bin(-x) == 10 - bin(x).
    """
    x = np.asarray(camera, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("camera angles must be finite (got NaN or inf)")
    y = _mu_encode(np.clip(x, -CAMERA_MAXVAL, CAMERA_MAXVAL))
    # Round |y| half away from zero and restore the sign, so binning is exactly symmetric.
    steps = np.floor(np.abs(y) / _CAMERA_BINSIZE + 0.5) * np.sign(y)
    return (CAMERA_CENTER_BIN + steps).astype(np.int64)


def bins_to_camera(bins) -> np.ndarray:
    """Bin indices (any shape) -> camera angles in degrees (float32) at the bins' centres."""
    b = np.asarray(bins)
    if b.dtype.kind not in "iu":
        if b.dtype.kind != "f" or not np.all(np.isfinite(b)) or np.any(b != np.round(b)):
            raise ValueError(f"camera bins must be integers in [0, {CAMERA_BINS - 1}], got {b!r}")
    if np.any((b < 0) | (b >= CAMERA_BINS)):
        raise ValueError(f"camera bins must be in [0, {CAMERA_BINS - 1}], got {b!r}")
    y = b.astype(np.float64) * _CAMERA_BINSIZE - CAMERA_MAXVAL
    return _mu_decode(y).astype(np.float32)


# ---------------------------------------------------------------- MineRL dicts and vectors


def noop_minerl_action() -> dict:
    """A MineRL 1.0 action that presses nothing and does not move the camera."""
    action: dict = {b: 0 for b in MINERL_BUTTONS}
    action["camera"] = np.zeros(2, dtype=np.float32)
    return action


def _button_value(name: str, value) -> int:
    v = np.asarray(value)
    if v.size != 1 or v.dtype.kind not in "biuf":
        raise ValueError(f"button {name!r} must be 0 or 1, got {value!r}")
    v = v.reshape(()).item()
    if v not in (0, 1):
        raise ValueError(f"button {name!r} must be 0 or 1, got {value!r}")
    return int(v)


def minerl_to_multidiscrete(action: dict) -> np.ndarray:
    """MineRL 1.0 action dict -> int64 vector of shape (25,): 23 buttons, pitch bin, yaw bin.

    Missing buttons count as not pressed and a missing camera as no motion; unknown keys
    raise ValueError (they mean a typo or another MineRL version's action space).
    """
    if not isinstance(action, dict):
        raise ValueError(f"expected a MineRL action dict, got {type(action).__name__}")
    unknown = set(action) - set(MINERL_BUTTONS) - {"camera"}
    if unknown:
        raise ValueError(
            f"unknown MineRL action keys {sorted(unknown)}; expected MineRL 1.0 keys {list(MINERL_BUTTONS)}"
            " + 'camera'"
        )
    vec = np.zeros(ACTION_DIM, dtype=np.int64)
    for i, name in enumerate(MINERL_BUTTONS):
        if name in action:
            vec[i] = _button_value(name, action[name])
    camera = np.asarray(action.get("camera", (0.0, 0.0)), dtype=np.float64)
    if camera.shape != (2,):
        raise ValueError(f"camera must have shape (2,) [pitch, yaw] in degrees, got shape {camera.shape}")
    vec[N_BUTTONS:] = camera_to_bins(camera)
    return vec


def check_multidiscrete(vec) -> np.ndarray:
    """Validate a (25,) action vector (or a (..., 25) batch) and return it as int64."""
    v = np.asarray(vec)
    if v.ndim == 0 or v.shape[-1] != ACTION_DIM:
        raise ValueError(
            f"action vector must have shape ({ACTION_DIM},) (23 buttons + 2 camera bins), got {v.shape}"
        )
    if v.dtype.kind not in "biu":
        if v.dtype.kind != "f" or not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
            raise ValueError(f"action vector must hold integers, got dtype {v.dtype}")
    v = v.astype(np.int64)
    if np.any((v < 0) | (v >= MULTIDISCRETE_NVEC)):
        raise ValueError(
            f"action vector out of range: buttons must be in [0, 1], camera bins in [0, {CAMERA_BINS - 1}]; got {v}"
        )
    return v


def multidiscrete_to_minerl(vec) -> dict:
    """(25,) int vector -> MineRL 1.0 action dict (camera at the bins' centres, float32 degrees)."""
    v = check_multidiscrete(vec)
    if v.shape != (ACTION_DIM,):
        raise ValueError(f"expected one action vector of shape ({ACTION_DIM},), got {v.shape}")
    action: dict = {name: int(v[i]) for i, name in enumerate(MINERL_BUTTONS)}
    action["camera"] = bins_to_camera(v[N_BUTTONS:])
    return action


# ---------------------------------------------------------------- VPT jsonl records


def _field(obj: dict, key: str, where: str):
    if key not in obj:
        raise RecordingError(f"{where}: missing field {key!r}")
    return obj[key]


def _number(value, where: str) -> float:
    # bool is an int subclass; a bool where a pixel count belongs means a broken file.
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise RecordingError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise RecordingError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def vpt_record_to_minerl(record: dict, where: str = "VPT record") -> dict:
    """One VPT jsonl object -> MineRL 1.0 action dict (all 23 buttons 0/1, camera float32 degrees).

    camera = [mouse.dy, mouse.dx] * CAMERA_SCALE, kept as floats (VPT's own converter truncates
    to whole degrees, which turns every slow mouse movement into no movement). Keys and mouse
    buttons with no MineRL counterpart are ignored. Missing `mouse`/`keyboard` fields or wrong
    types raise RecordingError; `where` (e.g. "file.jsonl:12") prefixes the message.
    """
    if not isinstance(record, dict):
        raise RecordingError(f"{where}: expected a JSON object, got {type(record).__name__}")
    mouse = _field(record, "mouse", where)
    if not isinstance(mouse, dict):
        raise RecordingError(f"{where}: 'mouse' must be an object, got {type(mouse).__name__}")
    keyboard = _field(record, "keyboard", where)
    if not isinstance(keyboard, dict):
        raise RecordingError(f"{where}: 'keyboard' must be an object, got {type(keyboard).__name__}")
    dx = _number(_field(mouse, "dx", f"{where}: mouse"), f"{where}: mouse.dx")
    dy = _number(_field(mouse, "dy", f"{where}: mouse"), f"{where}: mouse.dy")
    buttons = _list(_field(mouse, "buttons", f"{where}: mouse"), f"{where}: mouse.buttons")
    keys = _list(_field(keyboard, "keys", f"{where}: keyboard"), f"{where}: keyboard.keys")

    action = noop_minerl_action()
    for key in keys:
        if not isinstance(key, str):
            raise RecordingError(f"{where}: keyboard.keys must hold strings, got {key!r}")
        if key in KEY_TO_BUTTON:
            action[KEY_TO_BUTTON[key]] = 1
    for button in buttons:
        if isinstance(button, bool) or not isinstance(button, int):
            raise RecordingError(f"{where}: mouse.buttons must hold integers, got {button!r}")
        if button in MOUSE_TO_BUTTON:
            action[MOUSE_TO_BUTTON[button]] = 1
    action["camera"] = np.array([dy * CAMERA_SCALE, dx * CAMERA_SCALE], dtype=np.float32)
    return action


def vpt_actions(records: list[dict], source: str = "VPT jsonl") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole VPT episode's records -> (actions (T, 25) int64, camera (T, 2) float32 degrees, gui (T,) bool).

    `camera` holds the unquantised angles (the vector holds their bins); `gui[t]` is the
    record's `isGuiOpen` (False when absent). `source` names the file in error messages.
    """
    n = len(records)
    actions = np.zeros((n, ACTION_DIM), dtype=np.int64)
    camera = np.zeros((n, 2), dtype=np.float32)
    gui = np.zeros(n, dtype=bool)
    for t, record in enumerate(records):
        where = f"{source}: record {t}"
        action = vpt_record_to_minerl(record, where)
        actions[t] = minerl_to_multidiscrete(action)
        camera[t] = action["camera"]
        is_gui = record.get("isGuiOpen", False)
        if not isinstance(is_gui, bool):
            raise RecordingError(f"{where}: 'isGuiOpen' must be true/false, got {is_gui!r}")
        gui[t] = is_gui
    return actions, camera, gui
