"""PPO (stable-baselines3, CNN policy) trained inside the dream, or in the real game as a baseline.

    python -m agents.dream_ppo --env dream --timesteps 200000 --out runs/agent_dream
    python -m agents.dream_ppo --env real --timesteps 170000 --out runs/agent_real   # baseline
    python -m agents.dream_ppo ... --resume            # continue from <out>/last.safetensors

The dream is `DreamVectorEnv` (all envs in one model call) behind the SB3 VecEnv adapter; dream
episodes restart from real start clips every `--dream-horizon` steps at most, which limits how
far an agent can exploit model errors; `--starts data/crafter72` draws those clips from random points
of recorded episodes instead of episode beginnings, so the agent also practises the states a long
real episode reaches (night, low food, items in hand). Logs go to `<out>/progress.csv` (SB3's CSV logger: dream
episode reward `rollout/ep_rew_mean`, and with `--real-eval-every` the real game's reward of the
same policy, so a dream/real gap shows up per checkpoint). Checkpoints are safetensors.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor
from tqdm import tqdm

from agents.policy_io import KIND, load_policy, save_policy
from model.checkpoint import load_checkpoint


@dataclass
class AgentConfig:
    """A PPO run; every field is a flag."""

    env: str = "dream"  # "dream" (SoraWorld-v0) or "real" (Crafter)
    world: str = ""  # world folder for the dream (default: shipped); --env real renders at its frame size
    out: str = "runs/agent_dream"
    timesteps: int = 200_000
    num_envs: int = 16
    dream_horizon: int = 500
    starts: str = ""  # recordings folder: start dreams at random points of its episodes (default: world's bank)
    num_starts: int = 1024  # start clips drawn from --starts
    start_anywhere: bool = True  # --no-start-anywhere: --starts clips open the recorded episodes
    hold_openings: bool = False  # with --no-start-anywhere: an opening is its first frame held, as a game starts
    guidance: float | None = None  # action guidance of the dream (default: the world's; docs/results/agents.md)
    denoise_steps: int = 2  # the shipped world draws the view from the moved previous frame, which takes 2
    # the game's dream rules: "game" (on Crafter worlds: items, achievements and vitals, the view's
    # terrain and the clock by the game's rules), "none", or rule names (Crafter's: inventory,
    # terrain, daylight, attacks; see docs/results/agents.md for what each did to the agents)
    rules: tuple[str, ...] = ("game",)
    network: str = "cnn"  # the policy's image network: "cnn" (SB3's) or "impala" (agents/networks.py)
    n_steps: int = 128  # per env; batch 16 x 128 = 2048 steps per update
    batch_size: int = 512
    n_epochs: int = 3
    lr: float = 3e-4
    ent_coef: float = 0.01
    gamma: float = 0.95
    ckpt_every: int = 20_000
    real_eval_every: int = 0  # 0 = off; else evaluate in the real game every N steps
    real_eval_episodes: int = 5
    seed: int = 0
    resume: bool = False


def make_vec_env(cfg: AgentConfig):
    if cfg.env == "dream":
        from agents.sb3_vec_env import GymVectorToSB3
        from worldenv.cli import rules_from_flag
        from worldenv.dream_vector_env import DreamVectorEnv

        # threads=None: PPO's updates keep torch's threads
        venv = GymVectorToSB3(DreamVectorEnv(num_envs=cfg.num_envs, world=cfg.world or None,
                                             rules=rules_from_flag(cfg.rules), steps=cfg.denoise_steps,
                                             max_episode_steps=cfg.dream_horizon, guidance=cfg.guidance,
                                             starts=cfg.starts or None, num_starts=cfg.num_starts,
                                             start_anywhere=cfg.start_anywhere, hold_openings=cfg.hold_openings,
                                             threads=None))
    elif cfg.env == "real":
        from worldenv.games.crafter.env import CrafterEnv
        from worldenv.worlds import world_frame_size

        # the world's frame size (--world, else the shipped one), so both policies see the same images
        size = world_frame_size(cfg.world or None)
        venv = DummyVecEnv([lambda: CrafterEnv(captions=False, size=size) for _ in range(cfg.num_envs)])
    else:
        raise ValueError(f"env must be 'dream' or 'real', got {cfg.env!r}")
    venv.seed(cfg.seed)
    return VecMonitor(venv)


class Progress(BaseCallback):
    """tqdm bar, safetensors checkpoints, and optional real-game evaluation of the current policy."""

    def __init__(self, cfg: AgentConfig, start: int, spaces):
        super().__init__()
        self.cfg, self.start, self.spaces = cfg, start, spaces
        self.bar = None
        self.next_ckpt = start + cfg.ckpt_every
        self.next_eval = start + cfg.real_eval_every if cfg.real_eval_every else None

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.cfg.timesteps, initial=self.start, desc=f"ppo {self.cfg.env}", unit="step")

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        if self.num_timesteps >= self.next_ckpt:
            save_policy(self.model, Path(self.cfg.out) / "last.safetensors", *self.spaces, env=self.cfg.env)
            self.next_ckpt += self.cfg.ckpt_every
        if self.next_eval is not None and self.num_timesteps >= self.next_eval:
            from agents.evaluate import run_episodes

            h, w = self.spaces[0].shape[:2]
            r = run_episodes(lambda o: self.model.predict(o, deterministic=False)[0], self.cfg.real_eval_episodes,
                             seed=10_000 + self.num_timesteps, size=(w, h))
            self.logger.record("real/ep_rew_mean", r["mean_reward"])
            self.logger.record("real/score", r["crafter_score"])
            self.next_eval += self.cfg.real_eval_every
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def finished_steps(policy: Path, env: str) -> int:
    """Steps a saved policy was trained for in `env` ("dream" or "real"); 0 when there is none
    (or it was trained in the other env)."""
    if not policy.exists():
        return 0
    _, meta = load_checkpoint(policy, KIND)
    return int(meta.get("num_timesteps", 0)) if meta.get("env") == env else 0


def train(cfg: AgentConfig) -> Path:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / "policy.safetensors"
    done = finished_steps(final, cfg.env) if cfg.resume else 0
    if cfg.resume and done >= cfg.timesteps:
        # Nothing left to train: skip building the envs (a dream's start clips take minutes to load).
        print(f"{final} already holds {done} {cfg.env} steps (asked for {cfg.timesteps})")
        return final
    venv = make_vec_env(cfg)
    last = out / "last.safetensors"
    spaces = (venv.observation_space, venv.action_space)
    if cfg.resume and last.exists():
        model = load_policy(last, venv)
        print(f"resumed from {last} at {model.num_timesteps} steps")
    else:
        from agents.networks import policy_kwargs

        model = PPO("CnnPolicy", venv, policy_kwargs=policy_kwargs(cfg.network), n_steps=cfg.n_steps,
                    batch_size=cfg.batch_size, n_epochs=cfg.n_epochs,
                    learning_rate=cfg.lr, ent_coef=cfg.ent_coef, gamma=cfg.gamma, seed=cfg.seed, device="cpu")
    start = model.num_timesteps
    if start < cfg.timesteps:
        # SB3's CSV logger truncates progress.csv: keep the log of the run we resume from.
        log = out / "progress.csv"
        if start > 0 and log.exists() and log.stat().st_size > 0:
            log.rename(out / f"progress_until_{start}.csv")
        model.set_logger(configure(str(out), ["csv"]))
        model.learn(total_timesteps=cfg.timesteps - start, callback=Progress(cfg, start, spaces),
                    reset_num_timesteps=False)
    save_policy(model, last, *spaces, env=cfg.env)
    save_policy(model, final, *spaces, env=cfg.env)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    print(f"saved {final} after {model.num_timesteps} steps")
    venv.close()
    return final


def parse_args(argv=None) -> AgentConfig:
    from model.cli import add_dataclass_flags

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_flags(p, AgentConfig)
    return AgentConfig(**vars(p.parse_args(argv)))


def main(argv=None) -> Path:
    np.set_printoptions(precision=3)
    return train(parse_args(argv))


if __name__ == "__main__":
    main()
