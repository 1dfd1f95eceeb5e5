"""Minecraft through MineRL 1.0 and OpenAI's VPT recordings, as a SoraWorld game plugin.

The action layout is MineRL's: 23 buttons and a camera in degrees, flattened for the DiT into
`MultiDiscrete` (23 two-way buttons + 11 mu-law camera bins per axis, `model.vpt`). Minetest uses
the same layout, so one action-token scheme serves both. `minerl` is an optional extra that cannot
be installed offline (`minerl.require_minerl` says how); the layout, the controls and the
recorder work without it.
"""

from __future__ import annotations

import numpy as np

from worldenv.games.plugin import Controller, Game


class MinecraftController(Controller):
    """Keyboard and mouse -> MineRL's MultiDiscrete vector with VPT's key map (W/A/S/D, Space jump,
    Shift sneak, Ctrl sprint, E inventory, Q drop, F swap hands, 1-9 hotbar; left/right/middle mouse
    attack/use/pick; mouse motion turns the camera). Every held key counts each tick."""

    mouse_look = True

    def __init__(self):
        import pygame as pg

        from model.vpt import KEY_TO_BUTTON, MINERL_BUTTONS, MOUSE_TO_BUTTON

        pg.init()  # key codes need it
        names = {"left.shift": "left shift", "left.control": "left ctrl"}
        self.keys = {}
        for vpt_key, button in KEY_TO_BUTTON.items():
            name = vpt_key.removeprefix("key.keyboard.")
            if name == "escape":  # Esc pauses the play loop
                continue
            self.keys[pg.key.key_code(names.get(name, name))] = MINERL_BUTTONS.index(button)
        self.mouse = {b + 1: MINERL_BUTTONS.index(name) for b, name in MOUSE_TO_BUTTON.items()}  # pygame: 1-based
        self.help = {pg.key.name(k): MINERL_BUTTONS[i] for k, i in self.keys.items()}

    def key_action(self, key: int) -> None:
        return None  # held keys are read every tick; a tap between ticks is not queued

    def action(self, held_keys, held_mouse, motion, pressed) -> np.ndarray:
        from model.vpt import ACTION_DIM, CAMERA_SCALE, N_BUTTONS, camera_to_bins

        vec = np.zeros(ACTION_DIM, np.int64)
        for key in held_keys:
            if key in self.keys:
                vec[self.keys[key]] = 1
        for button in held_mouse:
            if button in self.mouse:
                vec[self.mouse[button]] = 1
        dx, dy = motion
        vec[N_BUTTONS:] = camera_to_bins(np.array([dy, dx], np.float64) * CAMERA_SCALE)
        return vec

    def describe(self, action) -> str:
        """The buttons held and the camera turn, e.g. "forward jump | yaw +2.1 pitch -0.6"."""
        from model.vpt import MINERL_BUTTONS, N_BUTTONS, bins_to_camera

        action = np.asarray(action)
        held = " ".join(MINERL_BUTTONS[i] for i in range(N_BUTTONS) if action[i]) or "-"
        pitch, yaw = (float(v) for v in bins_to_camera(action[N_BUTTONS:]))
        return held + (f" | yaw {yaw:+.1f} pitch {pitch:+.1f}" if yaw or pitch else "")


class MinecraftGame(Game):
    """Minecraft (MineRL 1.0 envs, VPT recordings): MultiDiscrete(23 x 2 + 2 x 11) actions."""

    name = "minecraft"
    real_env_id = "MineRLBasaltFindCave-v0"
    fps = 20.0  # MineRL's ticks and VPT's recordings

    @property
    def action_nvec(self) -> tuple[int, ...]:
        from model.vpt import MULTIDISCRETE_NVEC

        return tuple(int(n) for n in MULTIDISCRETE_NVEC)

    def make_real_env(self, size=None, **kwargs):
        """A MineRL env (needs the optional `minerl` extra) with MultiDiscrete actions."""
        from worldenv.games.minecraft.minerl import MultiDiscreteMineRLActions, require_minerl

        require_minerl()
        import gym  # minerl registers its envs with the old `gym`

        return MultiDiscreteMineRLActions(gym.make(kwargs.pop("env_id", self.real_env_id), **kwargs))

    def controller(self) -> Controller:
        return MinecraftController()

    def noop_action(self) -> np.ndarray:
        """No button held and the camera still: its bins are the centre ones, not 0 (a full turn)."""
        from model.vpt import N_BUTTONS, minerl_to_multidiscrete, noop_minerl_action

        action = minerl_to_multidiscrete(noop_minerl_action())
        assert not action[:N_BUTTONS].any()
        return action.astype(np.int64)

    def action_names(self) -> list[str]:
        from model.vpt import MINERL_BUTTONS

        return [*MINERL_BUTTONS, "camera_pitch", "camera_yaw"]

    def record_episode(self, *args, **kwargs):
        from worldenv.games.minecraft.minerl import collect_minerl_episode

        return collect_minerl_episode(*args, **kwargs)


GAME = MinecraftGame()
