"""What a loop's iterations cost: the wall time of each phase (from `loop_state.json`), the rates
they imply, and how long the loop would take to reach a real-step budget on the machine it ran on.
Prints a table and writes JSON.

    python -m agents.loop.costs --loop runs/loop_crafter72 --to 1000000 --json results/loop/costs.json

Rates: collect in real steps/s (policy, 5 % random actions, recordings written); world in DiT
fine-tune steps/s (the phase's whole time: encoding the new data, the fine-tune, the heads' re-fit
and shipping); dream in PPO env steps/s (dream steps and PPO updates); score in real games/s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from agents.loop.state import PHASES, LoopState
from model.cli import command_line


def phase_costs(loop: Path) -> dict:
    """Per-phase seconds of every iteration that finished all phases, their means, the rates, and
    the mean seconds per iteration."""
    cfg_path = Path(loop) / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{cfg_path}: no loop config (is {loop} a loop's folder?)")
    cfg = json.loads(cfg_path.read_text())
    state = LoopState.load(Path(loop))
    whole = {i: s for i, s in state.seconds.items() if all(p in s for p in PHASES)}
    if not whole:
        raise ValueError(f"{loop}: no iteration has a time for every phase yet ({PHASES})")
    mean = {p: float(np.mean([s[p] for s in whole.values()])) for p in PHASES}
    work = {"collect": cfg["steps_per_iteration"], "world": cfg["world_steps"], "dream": cfg["dream_steps"],
            "score": cfg["score_episodes"]}
    unit = {"collect": "real steps/s", "world": "DiT steps/s", "dream": "dream steps/s", "score": "games/s"}
    rates = {p: {"rate": work[p] / mean[p], "unit": unit[p]} for p in PHASES}
    return {"iterations": {int(i): s for i, s in sorted(whole.items(), key=lambda kv: int(kv[0]))},
            "mean_seconds": mean, "rates": rates, "seconds_per_iteration": sum(mean.values()),
            "steps_per_iteration": cfg["steps_per_iteration"], "base_real_steps": cfg["base_real_steps"]}


def projection(costs: dict, to: int) -> dict:
    """Iterations and hours from the base world's real steps to `to` real steps at the measured
    mean cost per iteration."""
    n = -(-(to - costs["base_real_steps"]) // costs["steps_per_iteration"])
    return {"real_steps": to, "iterations": n, "hours": n * costs["seconds_per_iteration"] / 3600}


def table(costs: dict, proj: dict) -> str:
    head = "| iteration | " + " | ".join(f"{p} (s)" for p in PHASES) + " | total (min) |"
    rows = [head, "|" + "---|" * (len(PHASES) + 2)]
    for i, s in costs["iterations"].items():
        rows.append(f"| {i} | " + " | ".join(f"{s[p]:.0f}" for p in PHASES) + f" | {sum(s.values()) / 60:.1f} |")
    m = costs["mean_seconds"]
    rows.append("| mean | " + " | ".join(f"{m[p]:.0f}" for p in PHASES) + f" | {sum(m.values()) / 60:.1f} |")
    rows.append("| rate | " + " | ".join(f"{r['rate']:.3g} {r['unit']}" for r in costs["rates"].values()) + " | |")
    rows.append(f"\nto {proj['real_steps']:,} real steps: {proj['iterations']} iterations, "
                f"{proj['hours']:.1f} h at this machine's mean cost per iteration")
    return "\n".join(rows)


@command_line
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", required=True, help="a loop's --out folder")
    ap.add_argument("--to", type=int, default=1_000_000, help="real-step budget to project to")
    ap.add_argument("--json", default="", help="write the costs and the projection here")
    args = ap.parse_args(argv)
    costs = phase_costs(Path(args.loop))
    out = {**costs, "projection": projection(costs, args.to)}
    print(table(costs, out["projection"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
