"""The loop's recipe: a typed dataclass, one TOML file per loop (`--config`), flags override it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoopConfig:
    """One learning loop on real Crafter; every field is a flag and a key of a `--config` recipe."""

    out: str = "runs/loop"
    # the world the loop starts from (a shipped world's name or a folder) and the latent cache of
    # the real data it was trained on ("" for none): counted in the loop's real steps and mixed into
    # every fine-tune
    world: str = "crafter72"
    base_latents: str = ""
    base_real_steps: int = 0  # real frames behind `world` (the x-axis starts there)
    # the DiT recipe the fine-tunes take their model settings from (init, steps, lr, out and the
    # data are the loop's)
    dit_recipe: str = "configs/crafter72/dit_4_attempts.toml"
    heads_recipe: str = "configs/crafter72/heads_4.toml"
    # the budget and its cut into iterations
    real_steps: int = 250_000  # real steps the loop collects (besides base_real_steps)
    steps_per_iteration: int = 25_000
    # collect
    collect_envs: int = 16
    epsilon: float = 0.05  # share of random actions while collecting
    # world
    world_steps: int = 1000  # DiT fine-tune steps per iteration
    world_lr: float = 1e-4
    recent_weight: float = 3.0  # the newest data's share of DiT batches, relative to its share of frames
    heads_windows: int = 20_000  # random windows of the heads' re-fit, shared out over the caches
    heads_epochs: int = 20
    # dream
    network: str = "impala"  # the policy's image network (agents/networks.py)
    # a saved policy the loop starts from ("" for a new one): it collects iteration 0, and the
    # loop's PPO goes on from its weights, optimizer and step count (e.g. the shipped dream policy,
    # trained in `world`'s dream on no real steps beyond base_real_steps)
    init_policy: str = ""
    dream_steps: int = 100_000  # PPO steps in the dream per iteration
    dream_envs: int = 16
    dream_horizon: int = 500
    ppo_n_steps: int = 128  # per env and update (agents.dream_ppo's n_steps)
    ppo_batch_size: int = 512
    # the dream's game rules ("game": Crafter's items, achievements, terrain and clock by the game's
    # rules; "none": the DiT alone, to measure what the rules add)
    dream_rules: tuple[str, ...] = ("game",)
    # score
    score_episodes: int = 100
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)
    resume: bool = False
