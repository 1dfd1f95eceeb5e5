"""Run the learning loop from a recipe; resumes at the phase it stopped in (`--resume`).

    python scripts/loop.py --config configs/loop/crafter72.toml
    python scripts/loop.py --config configs/loop/crafter72.toml --resume     # after a break

Folders under `--out`: `real/iter_NNN` (recordings), `latents/iter_NNN`, `world/iter_NNN/world`
(each iteration's world), `policy/` (the PPO run; `policy/iter_NNN.safetensors` after each
iteration), `score/iter_NNN/agent_eval.json`; `loop_state.json` and `curve.json` (the Crafter score
against real steps) are rewritten after every phase.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from agents.loop.config import LoopConfig
from agents.loop.state import PHASES, LoopState
from model.cli import command_line, parse_config

# Crafter maps by seed: every policy is scored on the same games (SCORE_SEED onwards), and no loop
# collects on them (each seed and iteration collects from a range of its own, far above).
SCORE_SEED = 1_000_000


def collect_seed(seed: int, i: int) -> int:
    """The first Crafter map seed loop `seed` collects on in iteration i (100,000 games apart)."""
    return 10_000_000 * (seed + 1) + 100_000 * i


def iterations(cfg: LoopConfig) -> int:
    return -(-cfg.real_steps // cfg.steps_per_iteration)


def last_dream_reward(run: Path) -> float | None:
    """The dream's mean episode reward at the end of the PPO run's log (SB3's rollout/ep_rew_mean):
    set beside the real reward, it shows whether the dream's reward tracks the game's."""
    import csv

    path = run / "progress.csv"
    if not path.exists():
        return None
    with open(path) as f:
        values = [row.get("rollout/ep_rew_mean") for row in csv.DictReader(f)]
    values = [float(v) for v in values if v not in (None, "")]
    return values[-1] if values else None


class Loop:
    """The loop's phases over its folders (module docstring); `run()` goes on from `state`."""

    def __init__(self, cfg: LoopConfig):
        from worldenv.worlds import world_path

        self.cfg, self.out = cfg, Path(cfg.out)
        self.base_world = world_path(cfg.world)
        self.state = LoopState.load(self.out)

    def folder(self, kind: str, i: int) -> Path:
        return self.out / kind / f"iter_{i:03d}"

    def world_of(self, i: int) -> Path:
        """The world iteration i's policy trains in (the base world before the first fine-tune)."""
        return self.folder("world", i) / "world" if i >= 0 else self.base_world

    def policy_of(self, i: int) -> Path | None:
        """Iteration i's policy (before the first one: the init policy, or None for a new one)."""
        if i >= 0:
            return self.out / "policy" / f"iter_{i:03d}.safetensors"
        return Path(self.cfg.init_policy) if self.cfg.init_policy else None

    # ------------------------------------------------------------------ phases
    def collect(self, i: int) -> None:
        from agents.loop.collect import collect_real
        from agents.policy_io import Actor
        from worldenv.games.crafter.env import CrafterEnv
        from worldenv.worlds import world_frame_size

        size = world_frame_size(self.base_world)
        probe = CrafterEnv(captions=False, size=size)
        policy = self.policy_of(i - 1)
        actor = Actor(str(policy) if policy else "random", probe.observation_space, probe.action_space,
                      seed=collect_seed(self.cfg.seed, i))
        probe.close()
        folder = self.folder("real", i)
        if folder.exists():  # an interrupted collection: start it again, keeping what it wrote aside
            shutil.move(str(folder), str(folder.with_name(f"{folder.name}_interrupted_{int(time.time())}")))
        steps = min(self.cfg.steps_per_iteration, self.cfg.real_steps - self.state.real_steps)
        collect_real(actor.act, folder, steps, self.cfg.collect_envs, seed=collect_seed(self.cfg.seed, i),
                     epsilon=self.cfg.epsilon, size=size)
        self.state.real_steps += steps

    def world(self, i: int) -> None:
        from agents.loop.world import encode, refine_world

        world = self.world_of(i - 1)
        caches = [Path(self.cfg.base_latents)] if self.cfg.base_latents else []
        for j in range(i + 1):
            caches.append(encode(world, self.folder("real", j), self.folder("latents", j)))
        refine_world(self.cfg, world, caches, self.folder("real", i), self.folder("world", i), seed=self.cfg.seed + i)

    def dream(self, i: int) -> None:
        from agents.dream_ppo import AgentConfig, train

        run = self.out / "policy"
        if self.cfg.init_policy and self.state.init_steps is None:
            self.take_up_init_policy(run / "last.safetensors")
        start = self.state.init_steps or 0
        cfg = AgentConfig(env="dream", world=str(self.world_of(i)), out=str(run), network=self.cfg.network,
                          timesteps=start + (i + 1) * self.cfg.dream_steps, num_envs=self.cfg.dream_envs,
                          dream_horizon=self.cfg.dream_horizon, starts=str(self.folder("real", i)),
                          n_steps=self.cfg.ppo_n_steps, batch_size=self.cfg.ppo_batch_size,
                          rules=tuple(self.cfg.dream_rules), seed=self.cfg.seed, resume=True)
        final = train(cfg)
        shutil.copyfile(final, self.policy_of(i))

    def take_up_init_policy(self, last: Path) -> None:
        """Put the init policy where PPO resumes from, and keep its step count in the state (the
        dream phases' step targets count on from it, whatever later becomes of the file)."""
        from agents.policy_io import KIND
        from model.checkpoint import load_checkpoint, temporary_file

        if not last.exists():  # else a dream phase already went on from it
            tmp = temporary_file(last)
            shutil.copyfile(self.cfg.init_policy, tmp)
            os.replace(tmp, last)
        self.state.init_steps = int(load_checkpoint(self.cfg.init_policy, KIND)[1].get("num_timesteps", 0))
        self.state.save(self.out)

    def score(self, i: int) -> None:
        from agents.evaluate import evaluate_policy

        r = evaluate_policy(str(self.policy_of(i)), episodes=self.cfg.score_episodes, seed=SCORE_SEED,
                            out=str(self.folder("score", i)), progress=False)
        row = {"iteration": i, "real_steps": self.cfg.base_real_steps + self.state.real_steps,
               "loop_real_steps": self.state.real_steps, "crafter_score": r["crafter_score"],
               "real_reward": r["mean_reward"], "dream_reward": last_dream_reward(self.out / "policy"),
               "episodes": r["episodes"]}
        self.state.curve = [c for c in self.state.curve if c["iteration"] != i] + [row]
        print(f"iteration {i}: {row['real_steps']} real steps, Crafter score {r['crafter_score']:.2f} %")

    # ------------------------------------------------------------------ driver
    def run(self) -> LoopState:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(self.cfg), indent=1))
        (self.out / "policy").mkdir(exist_ok=True)
        for i in range(iterations(self.cfg)):
            self.state.iteration = i
            for phase in PHASES:
                if self.state.finished(i, phase):
                    continue
                t0 = time.time()
                print(f"iteration {i}: {phase}")
                getattr(self, phase)(i)
                self.state.curve.sort(key=lambda c: c["iteration"])
                took = time.time() - t0
                self.state.mark(i, phase, self.out, seconds=took)
                (self.out / "curve.json").write_text(json.dumps(self.state.curve, indent=1))
                print(f"iteration {i}: {phase} done in {took:.0f} s")
        return self.state


def check_inputs(cfg: LoopConfig) -> None:
    """Refuse, before any work, what would fail an iteration later: missing recipes, world or base
    data, an unknown network, budgets that cannot work."""
    from agents.networks import NETWORKS
    from model.latent_cache import LatentCache
    from worldenv.worlds import world_path

    if cfg.steps_per_iteration < 1 or cfg.real_steps < 1 or cfg.collect_envs < 1 or cfg.dream_envs < 1:
        raise SystemExit("error: --real-steps, --steps-per-iteration, --collect-envs and --dream-envs must be >= 1")
    if cfg.network not in NETWORKS:
        raise SystemExit(f"error: --network {cfg.network!r}: choose from {list(NETWORKS)}")
    if cfg.dream_steps < cfg.ppo_n_steps * cfg.dream_envs:
        raise SystemExit(f"error: --dream-steps {cfg.dream_steps} is less than one PPO update "
                         f"(--ppo-n-steps x --dream-envs = {cfg.ppo_n_steps * cfg.dream_envs}): an iteration "
                         "would not train in its new dream")
    try:
        world = world_path(cfg.world)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if cfg.init_policy:
        from agents.policy_io import KIND, policy_frame_size
        from model.checkpoint import CheckpointError, load_checkpoint
        from worldenv.worlds import world_frame_size

        try:
            meta = load_checkpoint(cfg.init_policy, KIND)[1]
        except (CheckpointError, OSError) as e:
            raise SystemExit(f"error: --init-policy: {e}") from None
        if meta.get("network", "cnn") != cfg.network:
            raise SystemExit(f"error: --init-policy {cfg.init_policy} holds the {meta.get('network', 'cnn')!r} network, "
                             f"but --network is {cfg.network!r}")
        # PPO goes on with the checkpoint's own settings, so they must be the loop's
        hp = meta.get("hyperparams", {})
        theirs, ours = (hp.get("n_steps"), hp.get("batch_size")), (cfg.ppo_n_steps, cfg.ppo_batch_size)
        if theirs != ours:
            raise SystemExit(f"error: --init-policy {cfg.init_policy} was trained with n_steps, batch_size = {theirs}, "
                             f"but the loop's --ppo-n-steps, --ppo-batch-size are {ours}")
        sees, makes = policy_frame_size(cfg.init_policy), world_frame_size(world)
        if sees != makes:
            raise SystemExit(f"error: --init-policy {cfg.init_policy} sees {sees} (W, H) frames, but the world "
                             f"{cfg.world!r} makes {makes}")
    for name in ("dit_recipe", "heads_recipe"):
        if not Path(getattr(cfg, name)).is_file():
            raise SystemExit(f"error: --{name.replace('_', '-')} {getattr(cfg, name)}: no such recipe file")
    if cfg.base_latents:
        if not (Path(cfg.base_latents) / "latents.safetensors").exists():
            raise SystemExit(f"error: --base-latents {cfg.base_latents}: no latent cache there; encode the world's "
                             "data first (docs/training.md, \"Learning in the dream, in a loop\")")
        data = LatentCache.read_meta(cfg.base_latents).get("data", "")
        if not (Path(data) / "index.json").exists():
            raise SystemExit(f"error: --base-latents {cfg.base_latents} was encoded from {data!r}, which is not here: "
                             "the fine-tunes read its recordings' jsonl")


def check_start(cfg: LoopConfig) -> None:
    """A folder holding a loop is only gone on with under --resume; a resume keeps its recipe."""
    out = Path(cfg.out)
    saved = out / "config.json"
    if (out / "loop_state.json").exists() and not cfg.resume:
        raise SystemExit(f"error: {out} holds a loop: go on with --resume, or choose another --out")
    if cfg.resume and saved.exists():
        before = json.loads(saved.read_text())
        # how and where this run goes on, and how far (a longer budget only adds iterations), not
        # what the loop is
        machine = {"resume", "threads", "out", "real_steps"}
        now = json.loads(json.dumps(asdict(cfg)))  # as saved: tuples are lists
        default = json.loads(json.dumps(asdict(LoopConfig())))  # a key newer than the loop: it ran as the default
        changed = {k for k, v in now.items() if k not in machine and before.get(k, default[k]) != v}
        if cfg.real_steps != before["real_steps"] and (cfg.real_steps < before["real_steps"]
                                                       or before["real_steps"] % before["steps_per_iteration"]):
            # only whole iterations may be added: a smaller budget, or one past a shortened last
            # iteration, would leave the curve off the yardstick's budgets
            changed.add("real_steps")
        if changed:
            raise SystemExit(f"error: --resume with other settings than the loop in {out} ran with: "
                             f"{sorted(changed)}; a loop's iterations must share them")
    check_inputs(cfg)


@command_line
def main(argv=None) -> LoopState:
    cfg = parse_config(__doc__, LoopConfig, argv)
    check_start(cfg)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    return Loop(cfg).run()
