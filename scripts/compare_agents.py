"""One command for the agent comparison table and plot (all scored in the real Crafter game).

    python scripts/compare_agents.py --starts data/crafter72 --no-start-anywhere --out runs/compare

Rows, all evaluated on the same real-game seeds:
  (a) random policy
  (b) PPO trained in real Crafter on `--real-frames` steps (the number of real frames the world
      model was trained on)
  (c) PPO trained only in the dream for `--dream-steps` dream steps
  (d) optionally (c) fine-tuned in real Crafter for `--finetune-steps` steps
Each training run resumes from its own folder if interrupted. Prints the table with wall-clock per
row, writes `<out>/compare.json` and `<out>/success_rates.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.dream_ppo import AgentConfig, train  # noqa: E402
from agents.evaluate import bar_chart, evaluate_policy  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder (default: shipped)")
    p.add_argument("--real-frames", type=int, default=218_000, help="the shipped world's recordings hold 218k frames")
    p.add_argument("--dream-steps", type=int, default=400_000)
    p.add_argument("--dream-horizon", type=int, default=AgentConfig.dream_horizon,
                   help="steps before a dream restarts from a real start clip")
    p.add_argument("--starts", default="", help="recordings folder for dream start clips (default: world's bank)")
    p.add_argument("--num-starts", type=int, default=AgentConfig.num_starts, help="start clips drawn from --starts")
    p.add_argument("--start-anywhere", action=argparse.BooleanOptionalAction, default=AgentConfig.start_anywhere,
                   help="--no-start-anywhere: --starts clips open the recorded episodes")
    p.add_argument("--hold-openings", action=argparse.BooleanOptionalAction, default=AgentConfig.hold_openings,
                   help="with --no-start-anywhere: an opening is the episode's first frame held still, as a game starts")
    p.add_argument("--real-eval-every", type=int, default=0,
                   help="score the dream policy in the real game every N dream steps (its progress.csv: dream vs real reward)")
    p.add_argument("--denoise-steps", type=int, default=AgentConfig.denoise_steps,
                   help="denoising steps per dream frame (a world dreamed from the moved previous frame, "
                        "start_sigma < 1, needs 2 for items to appear)")
    p.add_argument("--finetune-steps", type=int, default=0)
    p.add_argument("--episodes", type=int, default=200,
                   help="real episodes per row (50 are too few: one policy scored 3.18 %% and 2.55 %% on two draws)")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/compare")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}

    def timed(name, train_fn, policy_fn):
        t0 = time.time()
        policy = train_fn()
        t_train = time.time() - t0
        r = evaluate_policy(policy_fn(policy), a.episodes, a.seed, world=a.world)  # real game, the world's size
        r["train_seconds"], r["eval_seconds"] = t_train, time.time() - t0 - t_train
        rows[name] = r

    timed("random", lambda: None, lambda _: "random")
    timed("ppo_real", lambda: train(AgentConfig(env="real", world=a.world, out=str(out / "ppo_real"),
                                                timesteps=a.real_frames, num_envs=a.num_envs, seed=a.seed,
                                                resume=True)), str)
    dream_cfg = AgentConfig(env="dream", world=a.world, out=str(out / "ppo_dream"), timesteps=a.dream_steps,
                            num_envs=a.num_envs, dream_horizon=a.dream_horizon, starts=a.starts, seed=a.seed,
                            num_starts=a.num_starts, start_anywhere=a.start_anywhere, hold_openings=a.hold_openings,
                            denoise_steps=a.denoise_steps,
                            real_eval_every=a.real_eval_every, real_eval_episodes=10, resume=True)
    timed("ppo_dream", lambda: train(dream_cfg), str)
    if a.finetune_steps:
        import shutil

        ft = out / "ppo_dream_finetuned"
        ft.mkdir(exist_ok=True)
        if not (ft / "last.safetensors").exists():
            shutil.copy(out / "ppo_dream" / "policy.safetensors", ft / "last.safetensors")
        cfg = AgentConfig(env="real", world=a.world, out=str(ft), timesteps=a.dream_steps + a.finetune_steps,
                          num_envs=a.num_envs, seed=a.seed, resume=True)
        timed("ppo_dream+finetune", lambda: train(cfg), str)
    (out / "compare.json").write_text(json.dumps(rows, indent=1))
    bar_chart(rows, out / "success_rates.png")
    print(f"{'policy':<20}{'score %':>9}{'reward':>16}{'length':>8}{'train s':>9}{'eval s':>8}")
    for name, r in rows.items():
        print(f"{name:<20}{r['crafter_score']:>9.2f}{r['mean_reward']:>9.2f} ± {r['std_reward']:<5.2f}"
              f"{r['mean_length']:>8.0f}{r['train_seconds']:>9.0f}{r['eval_seconds']:>8.0f}")
    print(f"wrote {out / 'compare.json'} and {out / 'success_rates.png'}")
    return rows


if __name__ == "__main__":
    main()
