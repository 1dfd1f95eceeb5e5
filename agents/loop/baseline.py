"""The loop's yardstick: PPO with the same policy network trained in the real game, scored at the
same real-step budgets as the loop (the base world's real frames plus each iteration's), so the
two curves share an x-axis. Resumes from its last budget.

    python -m agents.loop.baseline --config configs/loop/crafter72.toml --out runs/loop_real_ppo
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from agents.loop.config import LoopConfig
from agents.loop.run import SCORE_SEED, iterations
from model.cli import command_line, parse_config


def budgets(cfg: LoopConfig) -> list[int]:
    """The real steps at which the loop scores: base_real_steps plus each iteration's collection."""
    out, total = [], 0
    for _ in range(iterations(cfg)):
        total = min(total + cfg.steps_per_iteration, cfg.real_steps)
        out.append(cfg.base_real_steps + total)
    return out


def run_baseline(cfg: LoopConfig) -> list[dict]:
    """Train real-game PPO up to each budget of `budgets(cfg)` and score it; returns the curve
    (also `<out>/curve.json`)."""
    from agents.dream_ppo import AgentConfig, train
    from agents.evaluate import evaluate_policy
    from agents.loop.run import check_inputs
    from agents.loop.state import STATE_NAME
    from worldenv.worlds import world_path

    out = Path(cfg.out)
    if (out / STATE_NAME).exists():
        raise SystemExit(f"error: {out} holds a learning loop; give the yardstick an --out of its own")
    check_inputs(cfg)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    curve_path = out / "curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.exists() else []
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    for i, steps in enumerate(budgets(cfg)):
        if any(row["real_steps"] == steps for row in curve):
            continue
        policy = train(AgentConfig(env="real", world=str(world_path(cfg.world)), out=str(out / "policy"),
                                   network=cfg.network, timesteps=steps, num_envs=cfg.collect_envs,
                                   n_steps=cfg.ppo_n_steps, batch_size=cfg.ppo_batch_size, seed=cfg.seed, resume=True))
        r = evaluate_policy(str(policy), episodes=cfg.score_episodes, seed=SCORE_SEED,
                            out=str(out / "score" / f"iter_{i:03d}"), progress=False)
        from model.checkpoint import load_checkpoint

        # PPO stops at the first whole update past the budget: the steps it really took
        taken = int(load_checkpoint(policy, "PPOPolicy")[1]["num_timesteps"])
        curve.append({"iteration": i, "real_steps": steps, "ppo_steps": taken, "crafter_score": r["crafter_score"],
                      "real_reward": r["mean_reward"], "episodes": r["episodes"]})
        curve_path.write_text(json.dumps(curve, indent=1))
        print(f"real PPO at {steps} real steps: Crafter score {r['crafter_score']:.2f} %")
    return curve


@command_line
def main(argv=None) -> list[dict]:
    return run_baseline(parse_config(__doc__, LoopConfig, argv))


if __name__ == "__main__":
    main()
