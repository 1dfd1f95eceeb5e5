"""Play a world with the keyboard in a pygame window.

    python scripts/play.py            # the shipped dream (SoraWorld-v0)
    python scripts/play.py --real     # the real Crafter game through the same loop
    python scripts/play.py --compare  # the real game and the dream side by side, same keys
    python scripts/play.py --world runs/world/world --steps 1   # another world, 1 denoising step
    python scripts/play.py --record runs/me.mp4   # also save the play as a recording

Keys (Crafter, as in crafter's own GUI): W/A/S/D move, Space do (collect, attack, drink, eat),
Tab sleep, R/T/F/P place stone/table/furnace/plant, 1-6 make wood/stone/iron pickaxe then
wood/stone/iron sword. Game keys are sampled every tick (`--fps`); held keys repeat, no key
is a noop. Controls: H help, Esc pause (P is crafter's place-plant), Backspace reset,
F12 screenshot, M switches between you and `--agent` (a trained policy), Q or closing the
window quits.

Headless (tests, servers): set `SDL_VIDEODRIVER=dummy`; `--max-steps` ends the session.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Crafter action names for each key name (pygame.key.key_code names).
CRAFTER_KEYMAP = {
    "a": "move_left",
    "d": "move_right",
    "w": "move_up",
    "s": "move_down",
    "space": "do",
    "tab": "sleep",
    "r": "place_stone",
    "t": "place_table",
    "f": "place_furnace",
    "p": "place_plant",
    "1": "make_wood_pickaxe",
    "2": "make_stone_pickaxe",
    "3": "make_iron_pickaxe",
    "4": "make_wood_sword",
    "5": "make_stone_sword",
    "6": "make_iron_sword",
}


class MinecraftControls:
    """Keyboard and mouse -> MineRL's MultiDiscrete vector (23 buttons + 2 camera bins), with
    VPT's key map (W/A/S/D, Space jump, Shift sneak, Ctrl sprint, E inventory, Q drop, F swap hands,
    1-9 hotbar; left/right/middle mouse attack/use/pick; mouse motion turns the camera)."""

    def __init__(self, pg):
        from model.vpt import KEY_TO_BUTTON, MINERL_BUTTONS, MOUSE_TO_BUTTON

        names = {"left.shift": "left shift", "left.control": "left ctrl"}
        self.keys = {}
        for vpt_key, button in KEY_TO_BUTTON.items():
            name = vpt_key.removeprefix("key.keyboard.")
            if name == "escape":  # Esc pauses the play loop
                continue
            self.keys[pg.key.key_code(names.get(name, name))] = MINERL_BUTTONS.index(button)
        self.mouse = {b + 1: MINERL_BUTTONS.index(name) for b, name in MOUSE_TO_BUTTON.items()}  # pygame: 1-based
        self.help = {pg.key.name(k): MINERL_BUTTONS[i] for k, i in self.keys.items()}

    def action(self, held_keys: set, held_mouse: set, motion: tuple[float, float]) -> np.ndarray:
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


CONTROL_HELP = "H help | Esc pause | Backspace reset | F12 screenshot | M agent/human | Q quit"


@dataclass
class PlayConfig:
    """Flags of the play loop."""

    real: bool = False
    compare: bool = False  # real game (left) and dream (right), started from the same frame
    world: str = ""  # world folder (default: the shipped Crafter world)
    steps: int = 2  # denoising steps per dream frame
    env_id: str = ""  # overrides --real: any registered env id with Crafter's action space
    seed: int | None = None
    fps: float = 10.0
    scale: int = 8
    max_steps: int = 0  # 0 = play until quit
    record: str = ""  # write the session as a recording (<stem>.mp4 + .jsonl)
    screenshot_dir: str = "runs/screenshots"
    agent: str = ""  # a policy checkpoint (agents.dream_ppo); M toggles who plays
    threads: int = 1  # torch threads: 1 is fastest at batch 1 next to pygame (OpenMP spin-waits otherwise)


class PlaySession:
    """The play loop: keys -> actions -> env.step -> window. Works with any Crafter-action env.

    `on_tick(session, tick)` is called before each tick's events are read; tests use it to post
    scripted pygame key events.
    """

    def __init__(self, env, cfg: PlayConfig, on_tick: Callable[["PlaySession", int], None] | None = None,
                 companion=None):
        import pygame

        pygame.init()
        self.pg = pygame
        self.env, self.cfg, self.on_tick = env, cfg, on_tick
        self.companion, self.companion_obs, self.companion_reward = companion, None, 0.0
        from gymnasium import spaces

        from worldenv.games.crafter.env import ACTION_NAMES

        self.minecraft = None
        self.keymap = {}
        if isinstance(env.action_space, spaces.MultiDiscrete):
            self.minecraft = MinecraftControls(pygame)
        else:
            self.keymap = {pygame.key.key_code(k): ACTION_NAMES.index(a) for k, a in CRAFTER_KEYMAP.items()}
        # Key and mouse state tracked from events (works for short taps and for scripted events).
        self.held_keys: set[int] = set()
        self.held_mouse: set[int] = set()
        self.motion = [0.0, 0.0]
        self.paused, self.show_help, self.running = False, False, True
        self.step_count, self.total_reward, self.last_reward = 0, 0.0, 0.0
        self.caption, self.tick_ms, self.last_unlock = "", [0.0], ""
        self.pending: int | None = None  # a key pressed since the last tick
        self.agent, self.agent_playing = None, False
        if cfg.agent:
            from agents.policy_io import Actor

            self.agent = Actor(cfg.agent, env.observation_space, env.action_space)
            self.agent_playing = True
        self.writer = None
        self.steps_taken = 0

    # -------------------------------------------------------------- setup
    def _open_window(self, frame: np.ndarray) -> None:
        pg = self.pg
        h, w = frame.shape[:2]
        self.game_px = (w * self.cfg.scale, h * self.cfg.scale)
        self.hud_h = 64
        panes = 2 if self.companion is not None else 1
        self.screen = pg.display.set_mode((self.game_px[0] * panes, self.game_px[1] + self.hud_h))
        pg.display.set_caption("SoraWorld")
        self.font = pg.font.Font(None, 20)
        self.clock = pg.time.Clock()

    def _reset(self) -> np.ndarray:
        seed = self.cfg.seed if self.cfg.seed is None else self.cfg.seed + self.episode
        obs, info = self.env.reset(seed=seed)
        self.episode += 1
        self.step_count, self.total_reward, self.last_reward = 0, 0.0, 0.0
        self.caption = info.get("caption", "")
        self.info, self.last_unlock = info, ""
        if self.companion is not None:  # the dream starts from the real game's frame
            self.companion_obs, _ = self.companion.reset(seed=seed, options={"image": obs})
            self.companion_reward = 0.0
        return obs

    # -------------------------------------------------------------- loop
    def run(self) -> dict:
        """Play until quit (or `max_steps`); returns a summary."""
        pg = self.pg
        self.episode = 0
        self.obs = self._reset()
        self._open_window(self.obs)
        if self.cfg.record:
            from model.recordings import EpisodeWriter

            path = Path(self.cfg.record)
            self.writer = EpisodeWriter(path.parent if str(path.parent) else ".", path.stem, fps=self.cfg.fps)
        tick = 0
        try:
            while self.running:
                t0 = time.perf_counter()
                if self.on_tick is not None:
                    self.on_tick(self, tick)
                self._handle_events()
                if not self.running:
                    break
                if not self.paused:
                    action = self._current_action()
                    if self.agent is not None and self.agent_playing:
                        action = int(self.agent.act(self.obs[None])[0])
                    if self.writer is not None:
                        self.writer.add(self.obs, {"action": np.asarray(action).tolist(), "reward": self.last_reward,
                                              "done": False, "caption": self.caption})
                    self.obs, reward, terminated, truncated, info = self.env.step(action)
                    if self.companion is not None:
                        self.companion_obs, self.companion_reward, *_ = self.companion.step(action)
                    self.info = info
                    self.step_count += 1
                    self.steps_taken += 1
                    self.last_reward = float(reward)
                    self.total_reward += float(reward)
                    self.caption = info.get("caption", "")
                    if info.get("unlocked"):  # the dream names the achievement it just paid for
                        self.last_unlock = f"  unlocked {info['unlocked']}"
                    if terminated or truncated:
                        print(f"episode over after {self.step_count} steps, return {self.total_reward:.2f}")
                        self.obs = self._reset()
                self._draw(self.obs)
                self.tick_ms.append((time.perf_counter() - t0) * 1000)
                tick += 1
                if self.cfg.max_steps and self.steps_taken >= self.cfg.max_steps:
                    break
                self.clock.tick(self.cfg.fps)
        finally:
            if self.writer is not None:
                self.writer.add(self.obs, {"action": None, "reward": self.last_reward, "done": True,
                                      "caption": self.caption})
                info = self.writer.close(game="play")
                print(f"recorded {info.frames} frames to {Path(self.cfg.record).with_suffix('.mp4')}")
            pg.display.quit()
        ms = np.array(self.tick_ms[1:] or [0.0])
        return {"steps": self.steps_taken, "p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}

    def _handle_events(self) -> None:
        pg = self.pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self.running = False
            elif event.type == pg.KEYUP:
                self.held_keys.discard(event.key)
            elif event.type == pg.MOUSEBUTTONDOWN:
                self.held_mouse.add(event.button)
            elif event.type == pg.MOUSEBUTTONUP:
                self.held_mouse.discard(event.button)
            elif event.type == pg.MOUSEMOTION:
                self.motion[0] += event.rel[0]
                self.motion[1] += event.rel[1]
            elif event.type == pg.KEYDOWN:
                self.held_keys.add(event.key)
                if event.key == pg.K_q:
                    self.running = False
                elif event.key == pg.K_ESCAPE:
                    self.paused = not self.paused
                elif event.key == pg.K_m and self.agent is not None:
                    self.agent_playing = not self.agent_playing
                elif event.key == pg.K_h:
                    self.show_help = not self.show_help
                elif event.key == pg.K_BACKSPACE:
                    self.obs = self._reset()
                elif event.key == pg.K_F12:
                    self._screenshot()
                elif event.key in self.keymap:
                    self.pending = self.keymap[event.key]

    def _current_action(self):
        """Crafter: the key pressed since the last tick, else a held key, else noop.
        Minecraft: the vector of held keys/buttons and the mouse motion since the last tick."""
        if self.minecraft is not None:
            vec = self.minecraft.action(self.held_keys, self.held_mouse, tuple(self.motion))
            self.motion = [0.0, 0.0]
            return vec
        if self.pending is not None:
            action, self.pending = self.pending, None
            return action
        for key in self.held_keys:
            if key in self.keymap:
                return self.keymap[key]
        return 0

    # -------------------------------------------------------------- drawing
    def _draw(self, obs: np.ndarray) -> None:
        pg = self.pg
        surf = pg.surfarray.make_surface(np.ascontiguousarray(obs.transpose(1, 0, 2)))
        self.screen.fill((20, 20, 28))
        self.screen.blit(pg.transform.scale(surf, self.game_px), (0, 0))
        if self.companion_obs is not None:
            other = pg.surfarray.make_surface(np.ascontiguousarray(self.companion_obs.transpose(1, 0, 2)))
            self.screen.blit(pg.transform.scale(other, self.game_px), (self.game_px[0], 0))
        fps = 1000.0 / max(1e-6, float(np.median(self.tick_ms[-30:])))
        status = ("PAUSED  " if self.paused else "") + ("AGENT  " if self.agent_playing else "")
        lines = [
            f"{status}step {self.step_count}  reward {self.last_reward:+.2f}  return {self.total_reward:.2f}  "
            f"{fps:.0f} fps{self.last_unlock}" + (f"  | dream reward {self.companion_reward:+.2f}" if self.companion else ""),
            *_wrap(self.caption, self.game_px[0] // 8),
        ]
        for i, text in enumerate(lines[:4]):
            self.screen.blit(self.font.render(text, True, (230, 230, 230)), (6, self.game_px[1] + 4 + 15 * i))
        if self.show_help:
            self._draw_help()
        pg.display.flip()

    def _draw_help(self) -> None:
        pg = self.pg
        overlay = pg.Surface(self.game_px, pg.SRCALPHA)
        overlay.fill((0, 0, 0, 190))
        self.screen.blit(overlay, (0, 0))
        keys = self.minecraft.help if self.minecraft is not None else CRAFTER_KEYMAP
        rows = [f"{k.upper():>10}  {a}" for k, a in keys.items()] + ["", *CONTROL_HELP.split(" | ")]
        for i, text in enumerate(rows):
            self.screen.blit(self.font.render(text, True, (255, 255, 255)), (16, 10 + 17 * i))

    def _screenshot(self) -> Path:
        out = Path(self.cfg.screenshot_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"shot_{time.strftime('%Y%m%d_%H%M%S')}_{self.step_count:05d}.png"
        self.pg.image.save(self.screen, str(path))
        print(f"screenshot: {path}")
        return path


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + [line] if line else lines


def make_env(cfg: PlayConfig):
    """(env, companion): `--env-id`, the real game (`--real`), or the dream; `--compare` pairs both."""
    import gymnasium as gym

    import worldenv
    from worldenv.dream_env import SHIPPED_WORLD

    def dream():
        kwargs = {"steps": cfg.steps, "world": cfg.world or None}
        return gym.make(worldenv.DREAM_ID, **kwargs)

    if not cfg.world and not cfg.env_id and not cfg.real and not (SHIPPED_WORLD / "dit.safetensors").exists():
        print(f"no shipped world model in {SHIPPED_WORLD}: playing the real Crafter game through the same loop")
        cfg.real, cfg.compare = True, False

    if cfg.env_id:
        return gym.make(cfg.env_id), None
    if cfg.compare:
        # the real game renders at the dream's frame size (e.g. 72x72 for a tile-aligned world), so
        # the dream can start from the real game's frame
        companion = dream()
        h, w = companion.observation_space.shape[:2]
        return gym.make(worldenv.CRAFTER_ID, size=(w, h)), companion
    if cfg.real:
        from worldenv.dream_env import world_frame_size

        # at the size of --world's frames (default: the shipped world's), as an --agent trained there expects
        has_world = cfg.world or (SHIPPED_WORLD / "start_bank.safetensors").exists()
        size = world_frame_size(cfg.world or None) if has_world else (64, 64)
        return gym.make(worldenv.CRAFTER_ID, size=size), None
    return dream(), None


def parse_args(argv=None) -> PlayConfig:
    d = PlayConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", action="store_true", help="play the real game instead of the dream")
    p.add_argument("--compare", action="store_true", help="real game and dream side by side, same keys")
    p.add_argument("--world", default=d.world, help="world folder (default: the shipped Crafter world)")
    p.add_argument("--steps", type=int, default=d.steps, help="denoising steps per dream frame (1-4)")
    p.add_argument("--env-id", default=d.env_id, help="any registered env id with Crafter's actions")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--fps", type=float, default=d.fps, help="game ticks per second")
    p.add_argument("--scale", type=int, default=d.scale, help="window pixels per game pixel")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after this many steps (0: never)")
    p.add_argument("--record", default=d.record, help="save the session as <path>.mp4 + .jsonl")
    p.add_argument("--screenshot-dir", default=d.screenshot_dir)
    p.add_argument("--agent", default=d.agent, help="policy checkpoint that plays while you watch (M toggles)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads for the dream")
    a = p.parse_args(argv)
    if a.fps <= 0 or a.scale < 1:
        p.error("--fps must be > 0 and --scale >= 1")
    return PlayConfig(a.real, a.compare, a.world, a.steps, a.env_id, a.seed, a.fps, a.scale, a.max_steps,
                      a.record, a.screenshot_dir, a.agent, a.threads)


def main(argv=None, on_tick=None) -> dict:
    cfg = parse_args(argv)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import torch

    torch.set_num_threads(max(1, cfg.threads))
    env, companion = make_env(cfg)
    try:
        summary = PlaySession(env, cfg, on_tick=on_tick, companion=companion).run()
    finally:
        env.close()
        if companion is not None:
            companion.close()
    print(f"played {summary['steps']} steps; tick p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms")
    return summary


if __name__ == "__main__":
    main()
