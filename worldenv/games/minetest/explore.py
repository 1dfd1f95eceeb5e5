"""A scripted policy that plays Minetest the way players do, for collecting world-model data.

It walks, strafes, sprints and jumps up blocks; looks around in smooth mouse arcs and in sudden
turns; digs and places blocks and switches hotbar slots. It also walks and turns in loops that
come back to where they started, so that a world model's revisit consistency can be measured:

- "a_b_a": from a standing start A it sneaks out to B (with gentle turns; sneaking never walks off
  an edge, so the way back has no drop to climb), then turns round, walks back to A by the
  ground-truth pose, and turns back to A's yaw and pitch (`reached`: back within 0.15 blocks
  horizontally and 0.6 vertically);
- "turn360": a full turn on the spot at 10 degrees a tick (36 ticks, exact in the camera bins).

Each loop is listed in `loops` as {"kind", "start", "end", ...}: frames `start` and `end` (frame
t = the frame the policy acts on at its t-th call) should show the same place from the same view.
The player stands until its pose has not changed for 4 frames before `start` and before `end`, so
each frame and the pose read with it agree (the pose trails the frame by up to a server step). The recorder adds the
measured pose errors between the two frames.

Actions are MultiDiscrete vectors (23 MineRL buttons + VPT camera bins).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from model.vpt import MINERL_BUTTONS, minerl_to_multidiscrete

# Items the explore episodes start with (hotbar slots 1-8 in this order): tools dig faster, blocks
# give something to place from the first tick.
EXPLORE_KIT = {
    "default:pick_stone": 1,
    "default:shovel_stone": 1,
    "default:axe_stone": 1,
    "default:dirt": 30,
    "default:cobble": 30,
    "default:wood": 30,
    "default:glass": 20,
    "default:sandstone": 20,
}
# Placeable block items (anything else in the hotbar is a tool or nothing).
TOOLS = ("pick", "shovel", "axe", "sword")

# Macro -> weight, for free exploration and for loop episodes.
EXPLORE_WEIGHTS = {
    "walk": 0.30, "strafe": 0.08, "arc": 0.15, "sudden_turn": 0.09, "look": 0.07, "dig": 0.10,
    "place": 0.07, "hotbar": 0.05, "idle": 0.03, "a_b_a": 0.04, "turn360": 0.02,
}
LOOP_WEIGHTS = {
    "a_b_a": 0.35, "turn360": 0.20, "walk": 0.18, "arc": 0.10, "sudden_turn": 0.05, "dig": 0.05,
    "place": 0.04, "hotbar": 0.03,
}


def wrap(deg: float) -> float:
    """An angle in degrees in [-180, 180)."""
    return (deg + 180.0) % 360.0 - 180.0


def vector(camera: tuple[float, float] = (0.0, 0.0), **buttons: int) -> np.ndarray:
    """The MultiDiscrete vector of MineRL buttons (hotbar.N as hotbar_N) and a camera [pitch, yaw]."""
    action = {name.replace("_", "."): int(v) for name, v in buttons.items()}
    unknown = set(action) - set(MINERL_BUTTONS)
    if unknown:
        raise ValueError(f"unknown buttons {sorted(unknown)}")
    action["camera"] = np.asarray(camera, np.float64)
    return minerl_to_multidiscrete(action)


class ExplorePolicy:
    """Callable `info -> MultiDiscrete vector` (info: `MinetestEnv`'s info of the current frame).

    `loop_episode=True` makes loops the main activity (for held-out revisit sets); otherwise they are
    occasional. `phase` names the current behaviour, `loops` lists the loops so far (see the module
    docstring). Deterministic given `seed` and the infos it is shown.
    """

    def __init__(self, seed: int | np.random.Generator = 0, loop_episode: bool = False):
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.loop_episode = bool(loop_episode)
        self.weights = LOOP_WEIGHTS if loop_episode else EXPLORE_WEIGHTS
        self.t = 0
        self.phase = "start"
        self.loop_id: int | None = None
        self.loops: list[dict] = []
        self.info: dict | None = None
        self._macro: Iterator[np.ndarray] | None = None
        self._recent: list[np.ndarray] = []  # (x, z) of the last frames, to notice being stuck

    def __call__(self, info: dict) -> np.ndarray:
        self.info = info
        p = info["pose"]
        self._recent = (self._recent + [np.array([p["x"], p["z"]])])[-6:]
        for _ in range(100):
            if self._macro is None:
                self._macro = self._choose()
            try:
                action = next(self._macro)
                break
            except StopIteration:
                self._macro = None
                self.loop_id = None
        else:  # pragma: no cover - every macro yields at least once
            action = vector()
        self.t += 1
        return action

    # ------------------------------------------------------------ helpers

    @property
    def pose(self) -> dict:
        return self.info["pose"]

    def _choose(self) -> Iterator[np.ndarray]:
        if self.t == 0 and self.loop_episode:
            name = "a_b_a"
        else:
            names = list(self.weights)
            w = np.array([self.weights[n] for n in names])
            name = names[int(self.rng.choice(len(names), p=w / w.sum()))]
        self.phase = name
        return getattr(self, f"_{name}")()

    def _stuck(self, least: float = 0.25) -> bool:
        """Moved less than `least` blocks over the last 5 frames although walking (0.25: a fifth of
        a walk's 1 block; sneaking goes 0.34)."""
        if len(self._recent) < 6:
            return False
        return float(np.linalg.norm(self._recent[-1] - self._recent[0])) < least

    def _turn_command(self, target_yaw: float | None, target_pitch: float | None, gain: float = 0.8):
        """Camera [pitch, yaw] degrees that turn towards the targets (clipped to a tick's 10 degrees)."""
        dy = 0.0 if target_yaw is None else wrap(target_yaw - self.pose["yaw"])
        dp = 0.0 if target_pitch is None else target_pitch - self.pose["pitch"]
        return (float(np.clip(gain * dp, -10, 10)), float(np.clip(gain * dy, -10, 10))), abs(dy), abs(dp)

    def _face(self, yaw: float | None, pitch: float | None, tol: float = 0.6, limit: int = 40):
        """Turn (standing) until within `tol` degrees of yaw and pitch, or `limit` ticks."""
        for _ in range(limit):
            camera, ey, ep = self._turn_command(yaw, pitch)
            if ey < tol and ep < tol:
                return
            yield vector(camera)

    def _still(self, n: int):
        for _ in range(n):
            yield vector()

    def _settle(self, limit: int = 30):
        """Idle until the pose has not changed for 4 frames (landed, not sliding), or `limit` ticks."""
        poses: list[np.ndarray] = []
        for _ in range(limit):
            p = self.pose
            poses = (poses + [np.array([p["x"], p["y"], p["z"], p["yaw"], p["pitch"]])])[-4:]
            if len(poses) == 4 and np.abs(np.ptp(np.stack(poses), axis=0)).max() < 0.005:
                return
            yield vector()

    def _hotbar_slot(self, want) -> int | None:
        """The first hotbar slot (1-9) whose item satisfies `want(name)`."""
        for i, name in enumerate(self.info.get("hotbar") or [], 1):
            if name and want(name):
                return i
        return None

    # ------------------------------------------------------------ moves

    def _walk(self):
        n = int(self.rng.integers(10, 60))
        sprint = int(self.rng.random() < 0.3)
        drift = float(self.rng.choice([0.0, 0.0, 0.6153943, -0.6153943]))
        level = float(self.rng.uniform(-10, 20))  # players look ahead while walking
        jumping = 0
        for i in range(n):
            if jumping == 0 and i >= 5 and self._stuck():
                jumping = 4  # jump up the block in front (forward stays held)
            jump = int(jumping > 0 or self.rng.random() < 0.02)
            jumping = max(0, jumping - 1)
            pitch = float(np.clip(0.3 * (level - self.pose["pitch"]), -3.2, 3.2))
            yield vector((pitch, drift), forward=1, sprint=sprint, jump=jump)

    def _strafe(self):
        n = int(self.rng.integers(5, 25))
        side = "left" if self.rng.random() < 0.5 else "right"
        forward = int(self.rng.random() < 0.4)
        for _ in range(n):
            yield vector(**{side: 1, "forward": forward})

    def _arc(self):
        n = int(self.rng.integers(10, 40))
        yaw_rate = float(self.rng.choice([0.6153943, 1.6094986, 3.2153692])) * float(self.rng.choice([-1, 1]))
        target_pitch = float(self.rng.uniform(-25, 35))
        forward = int(self.rng.random() < 0.5)
        for _ in range(n):
            pitch = float(np.clip(0.3 * (target_pitch - self.pose["pitch"]), -1.6, 1.6))
            yield vector((pitch, yaw_rate), forward=forward)

    def _sudden_turn(self):
        n = int(self.rng.integers(3, 13))  # 30 to 120 degrees
        yaw = 10.0 * float(self.rng.choice([-1, 1]))
        pitch = float(self.rng.choice([0.0, 0.0, 5.809483, -5.809483]))
        for _ in range(n):
            yield vector((pitch, yaw))

    def _look(self):
        target = float(self.rng.uniform(-60, 70))
        yield from self._face(None, target, tol=2.0, limit=15)
        yield from self._still(int(self.rng.integers(2, 10)))
        yield from self._face(None, float(self.rng.uniform(-10, 15)), tol=2.0, limit=15)

    def _idle(self):
        yield from self._still(int(self.rng.integers(3, 15)))

    def _hotbar(self):
        yield vector(**{f"hotbar_{int(self.rng.integers(1, 10))}": 1})

    def _dig(self):
        tool = self._hotbar_slot(lambda n: any(t in n for t in ("shovel", "pick")))
        if tool is not None and self.rng.random() < 0.7:
            yield vector(**{f"hotbar_{tool}": 1})
        yield from self._face(None, float(self.rng.uniform(25, 75)), tol=3.0, limit=12)
        before = sum(self.info["inventory"].values())
        for i in range(60):
            if i > 3 and sum(self.info["inventory"].values()) != before:
                break
            yield vector(attack=1)
        yield vector()
        yield from self._face(None, float(self.rng.uniform(-10, 20)), tol=3.0, limit=8)

    def _place(self):
        slot = self._hotbar_slot(lambda n: not any(t in n for t in TOOLS))
        if slot is None:
            yield from self._dig()  # nothing to place: dig something up first
            return
        yield vector(**{f"hotbar_{slot}": 1})
        yield from self._face(None, float(self.rng.uniform(40, 80)), tol=3.0, limit=12)
        yield vector(use=1)
        yield from self._still(2)
        if self.rng.random() < 0.5:  # and stand on it
            for _ in range(4):
                yield vector(forward=1, jump=1)
        yield from self._face(None, float(self.rng.uniform(-10, 20)), tol=3.0, limit=8)

    # ------------------------------------------------------------ loops

    def _loop_start(self, kind: str) -> dict:
        loop = {"kind": kind, "start": self.t, "end": None}
        self.loop_id = len(self.loops)
        self.loops.append(loop)
        return loop

    def _a_b_a(self):
        yield from self._face(None, float(self.rng.uniform(-5, 20)), tol=1.0, limit=10)
        yield from self._settle()
        loop = self._loop_start("a_b_a")
        a = np.array([self.pose["x"], self.pose["z"]])
        a_y = self.pose["y"]
        yaw0, pitch0 = self.pose["yaw"], self.pose["pitch"]
        # Out sneaking: Minetest's sneak never walks off an edge, so no drop the way back could not
        # climb (it still steps up single blocks with a jump). 1.35 blocks/s: 2 to 6 blocks out.
        out = int(self.rng.integers(30, 90))
        loop["out_ticks"] = out
        drift = float(self.rng.choice([0.0, 0.6153943, -0.6153943, 1.6094986, -1.6094986]))
        self.phase = "a_b_a:out"
        jumping = 0
        for i in range(out):
            if jumping == 0 and i >= 5 and self._stuck(0.1):
                jumping = 4
            jump = int(jumping > 0)
            jumping = max(0, jumping - 1)
            yield vector((0.0, drift), forward=1, sneak=1, jump=jump)
        self.phase = "a_b_a:back"
        reached = False
        jumping = 0
        for _ in range(2 * out + 60):
            here = np.array([self.pose["x"], self.pose["z"]])
            d = a - here
            dist = float(np.linalg.norm(d))
            if dist < 0.15:
                reached = abs(self.pose["y"] - a_y) < 0.6  # not under or over A (a cave, a pillar)
                break
            bearing = math.degrees(math.atan2(d[0], d[1]))  # yaw 0 faces +z, +yaw turns towards +x
            camera, ey, _ = self._turn_command(bearing, 10.0)
            walking = ey < 25
            if walking and jumping == 0 and self._stuck() and dist > 1.0:
                jumping = 4
            jump = int(jumping > 0)
            jumping = max(0, jumping - 1)
            yield vector(camera, forward=int(walking), sneak=int(walking and dist < 1.2), jump=jump)
        loop["reached"] = reached
        yield from self._still(2)
        self.phase = "a_b_a:face"
        yield from self._face(yaw0, pitch0, tol=0.5, limit=50)
        yield from self._settle()
        loop["end"] = self.t

    def _turn360(self):
        yield from self._face(None, float(self.rng.uniform(-10, 20)), tol=1.0, limit=10)
        yield from self._settle()
        loop = self._loop_start("turn360")
        yaw = 10.0 * float(self.rng.choice([-1, 1]))
        for _ in range(36):  # 36 x 10 degrees, exact in the camera bins and in pixels
            yield vector((0.0, yaw))
        yield from self._settle()
        loop["end"] = self.t


def random_policy(seed: int | np.random.Generator = 0):
    """A uniformly random MultiDiscrete vector per call (every button and camera bin uniform)."""
    from model.vpt import MULTIDISCRETE_NVEC

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return lambda info: rng.integers(0, MULTIDISCRETE_NVEC).astype(np.int64)
