"""Play a world with the keyboard and mouse in a pygame window.

    python scripts/play.py            # the shipped dream (SoraWorld-v0)
    python scripts/play.py --real     # the real game through the same loop
    python scripts/play.py --compare  # the real game and the dream side by side, same keys
    python scripts/play.py --world runs/world/world --steps 1   # another world, 1 denoising step
    python scripts/play.py --record runs/me.mp4   # also save the play as a recording

Keys are the game's (its plugin's controller; H shows them, README lists them). Game keys are
sampled every tick (`--fps`); held keys repeat, no key is a noop; where the mouse turns the camera,
the window grabs it. Controls: H help, Esc pause, Backspace reset, F12 screenshot, M switches
between you and `--agent` (a trained policy), Q or closing the window quits.

Headless (tests, servers): set `SDL_VIDEODRIVER=dummy`; `--max-steps` ends the session.
"""

from __future__ import annotations

import argparse
import os
import sys

from model.cli import command_line
from worldenv.play.config import PlayConfig


def _world_game_name(cfg: PlayConfig) -> str | None:
    """The game the world names in its metadata (None where it names none), without loading it."""
    import json

    from safetensors import safe_open

    from worldenv.worlds import world_path

    with safe_open(str(world_path(cfg.world or None) / "dit.safetensors"), "pt") as f:
        return json.loads((f.metadata() or {}).get("game", "null"))


def _game_of(cfg: PlayConfig):
    """The game plugin to play: --game, else the world's."""
    from worldenv.games import get_game

    name = cfg.game or _world_game_name(cfg)
    if not name:
        raise SystemExit(f"the world {cfg.world or 'default'} names no game: pass --game")
    return get_game(name)


def make_env(cfg: PlayConfig):
    """(env, companion, game): `--env-id`, the real game (`--real`), or the dream; `--compare` pairs
    the real game (env) with the dream (companion)."""
    import gymnasium as gym

    import worldenv
    from worldenv.worlds import world_frame_size

    def dream():
        return gym.make(worldenv.DREAM_ID, steps=cfg.steps, world=cfg.world or None, threads=cfg.threads)

    if cfg.env_id:
        env = gym.make(cfg.env_id)
        return env, None, _game_of(cfg)
    game = _game_of(cfg)
    if cfg.compare:
        # the real game renders at the dream's frame size, so the dream can start from its frame
        companion = dream()
        h, w = companion.observation_space.shape[:2]
        return game.make_real_env((w, h)), companion, game
    if cfg.real:
        # the world's game at the size of the world's frames, as an --agent trained there expects;
        # another game (--game) at its own default size
        own = not cfg.game or cfg.game == _world_game_name(cfg)
        return game.make_real_env(world_frame_size(cfg.world or None) if own else None), None, game
    return dream(), None, game


def parse_args(argv=None) -> PlayConfig:
    d = PlayConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", action="store_true", help="play the real game instead of the dream")
    p.add_argument("--compare", action="store_true", help="real game and dream side by side, same keys")
    p.add_argument("--world", default=d.world, help="a shipped world's name or a world folder (default: the shipped one)")
    p.add_argument("--game", default=d.game, help="the real game for --real (default: the world's game)")
    p.add_argument("--steps", type=int, default=d.steps, help="denoising steps per dream frame (1-4)")
    p.add_argument("--env-id", default=d.env_id, help="any registered env id with the game's actions")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--fps", type=float, default=d.fps,
                   help="game ticks per second (default: the game's own, Crafter 10, Minetest 20)")
    p.add_argument("--scale", type=int, default=d.scale, help="window pixels per game pixel")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after this many steps (0: never)")
    p.add_argument("--record", default=d.record, help="save the session as <path>.mp4 + .jsonl")
    p.add_argument("--screenshot-dir", default=d.screenshot_dir)
    p.add_argument("--agent", default=d.agent, help="policy checkpoint that plays while you watch (M toggles)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads for the dream")
    a = p.parse_args(argv)
    if a.fps < 0 or a.scale < 1:
        p.error("--fps must be > 0 (0: the game's own rate) and --scale >= 1")
    if a.threads < 1:
        p.error("--threads must be >= 1")
    return PlayConfig(a.real, a.compare, a.world, a.game, a.steps, a.env_id, a.seed, a.fps, a.scale, a.max_steps,
                      a.record, a.screenshot_dir, a.agent, a.threads)


def check_display() -> None:
    """Refuse to run without a display unless a headless driver is asked for: SDL would otherwise
    fall back to its offscreen driver and play in a window nobody sees."""
    if os.environ.get("SDL_VIDEODRIVER") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if sys.platform.startswith("linux"):
        raise SystemExit("no display: DISPLAY is not set. Play on a machine with a screen, or run headless on "
                         "purpose with SDL_VIDEODRIVER=dummy (with --max-steps or --agent).")


@command_line
def main(argv=None, on_tick=None) -> dict:
    """Play (see module docstring); returns the session's summary (steps, tick p50/p95 ms)."""
    cfg = parse_args(argv)
    check_display()
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # no sound is played; spares ALSA's noise when headless
    import torch

    from worldenv.play.session import PlaySession

    torch.set_num_threads(cfg.threads)
    env, companion, game = make_env(cfg)
    if not cfg.fps:
        cfg.fps = game.fps
    try:
        summary = PlaySession(env, cfg, game.controller(), on_tick=on_tick, companion=companion,
                              game=game.name).run()
    finally:
        env.close()
        if companion is not None:
            companion.close()
    print(f"played {summary['steps']} steps; tick p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms")
    return summary
