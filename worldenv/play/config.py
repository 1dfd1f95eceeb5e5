"""Flags of the play loop (`scripts/play.py`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PlayConfig:
    """How a play session runs: which env, how fast, what is saved."""

    real: bool = False  # play the real game instead of the dream
    compare: bool = False  # real game (left) and dream (right), started from the same frame
    world: str = ""  # a shipped world's name or a world folder ("": the default world)
    game: str = ""  # the real game for --real ("": the world's game)
    steps: int = 2  # denoising steps per dream frame
    env_id: str = ""  # overrides --real: any registered env id with the game's action space
    seed: int | None = None
    fps: float = 0.0  # game ticks per second (0: the game's own rate, `Game.fps`: Crafter 10, Minetest 20)
    scale: int = 8
    max_steps: int = 0  # 0 = play until quit
    record: str = ""  # write the session as a recording (<stem>.mp4 + .jsonl)
    screenshot_dir: str = "runs/screenshots"
    agent: str = ""  # a policy checkpoint (agents.dream_ppo); M toggles who plays
    threads: int = 1  # torch threads: 1 is fastest at batch 1 next to pygame (OpenMP spin-waits otherwise)
