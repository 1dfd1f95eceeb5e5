"""The play loop: a person (or an agent) plays a real game or its dream in a pygame window."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from worldenv.play.config import PlayConfig

CONTROL_HELP = "H help | Esc pause | Backspace reset | F12 screenshot | M agent/human | Q or F10 quit"


class PlaySession:
    """The play loop: keys -> actions -> env.step -> window, for any game's env (real or dream).

    `controller` (a `worldenv.games.Controller`, the game's keymap) turns keys and mouse into
    actions. `on_tick(session, tick)` is called before each tick's events are read; tests use it to
    post scripted pygame key events.
    """

    def __init__(self, env, cfg: PlayConfig, controller, on_tick: Callable[["PlaySession", int], None] | None = None,
                 companion=None, game: str = "play"):
        import pygame

        if not cfg.fps or cfg.fps <= 0:
            raise ValueError(f"PlayConfig.fps must be > 0 ticks per second, got {cfg.fps!r} (the command line "
                             "fills in the game's own rate, `Game.fps`)")
        pygame.init()
        self.pg = pygame
        self.env, self.cfg, self.on_tick = env, cfg, on_tick
        self.companion, self.companion_obs, self.companion_reward = companion, None, 0.0
        self.controller = controller
        self.game = game  # the name `--record` writes in the recording's index
        # Key and mouse state tracked from events (works for short taps and for scripted events).
        self.held_keys: set[int] = set()
        self.held_mouse: set[int] = set()
        self.motion = [0.0, 0.0]
        self.paused, self.show_help, self.running = False, False, True
        self.step_count, self.total_reward, self.last_reward = 0, 0.0, 0.0
        self.caption, self.tick_ms, self.last_unlock = "", [0.0], ""
        self.pending = None  # the action of a key pressed since the last tick
        self.last_action = ""  # the HUD's words for the action of the last tick
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
        if getattr(self.controller, "mouse_look", False):  # the mouse turns the camera: relative mode
            pg.mouse.set_visible(False)
            pg.event.set_grab(True)
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
                        action = self.agent.act(self.obs[None])[0]
                        action = int(action) if np.ndim(action) == 0 else np.asarray(action)
                    if self.writer is not None:
                        self.writer.add(self.obs, {"action": np.asarray(action).tolist(), "reward": self.last_reward,
                                              "done": False, "caption": self.caption})
                    self.last_action = self.controller.describe(action)
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
                info = self.writer.close(game=self.game)
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
                if event.key == pg.K_F10 or (event.key == pg.K_q and not self.controller.binds(event.key)):
                    self.running = False  # Q is a game key in some games (Minecraft's drop): F10 always quits
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
                elif self.controller.key_action(event.key) is not None:
                    self.pending = self.controller.key_action(event.key)

    def _current_action(self):
        """The game controller's action for the keys, buttons and mouse motion since the last tick."""
        action = self.controller.action(self.held_keys, self.held_mouse, tuple(self.motion), self.pending)
        self.motion, self.pending = [0.0, 0.0], None
        return action

    # -------------------------------------------------------------- drawing
    def _draw(self, obs: np.ndarray) -> None:
        pg = self.pg
        surf = pg.surfarray.make_surface(np.ascontiguousarray(obs.transpose(1, 0, 2)))
        self.screen.fill((20, 20, 28))
        self.screen.blit(pg.transform.scale(surf, self.game_px), (0, 0))
        if self.companion_obs is not None:
            other = pg.surfarray.make_surface(np.ascontiguousarray(self.companion_obs.transpose(1, 0, 2)))
            self.screen.blit(pg.transform.scale(other, self.game_px), (self.game_px[0], 0))
        # the rate the loop keeps (capped at --fps) and the rate one tick's work would allow
        fps, work_ms = self.clock.get_fps(), float(np.median(self.tick_ms[-30:]))
        status = ("PAUSED  " if self.paused else "") + ("AGENT  " if self.agent_playing else "")
        lines = [
            f"{status}step {self.step_count}  reward {self.last_reward:+.2f}  return {self.total_reward:.2f}  "
            f"{fps:.0f} fps ({work_ms:.0f} ms/tick){self.last_unlock}"
            + (f"  | dream reward {self.companion_reward:+.2f}" if self.companion else ""),
            f"action: {self.last_action}",
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
        keys = self.controller.help
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
