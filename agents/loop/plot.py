"""The loop's curve: Crafter score against real steps for the loop's runs (one per seed), real-game
PPO's runs, and a flat line for a fixed policy (e.g. the shipped dream policy), each as the mean
over its runs (one per seed, or a seed run again) with the min-max band.

    python -m agents.loop.plot --loop runs/loop_s0 runs/loop_s1 --real runs/real_s0 runs/real_s1 \
        --flat "shipped dream policy=5.06" --out docs/results/loop_curve.png

A run is a run folder holding `curve.json` or such a file itself (e.g. a copy under results/).
`--series "NAME=RUN,RUN"` adds a series of its own name (e.g. the loop with another network).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model.cli import command_line


def read_curves(runs: list[str]) -> dict[int, list[float]]:
    """{real steps: [score of each run that reached it]} from the runs' curve.json."""
    points: dict[int, list[float]] = {}
    for run in runs:
        path = Path(run) if Path(run).is_file() else Path(run) / "curve.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no curve (is {run} a loop or baseline run folder, or its curve.json?)")
        for row in json.loads(path.read_text()):
            points.setdefault(int(row["real_steps"]), []).append(float(row["crafter_score"]))
    return dict(sorted(points.items()))


def summary(points: dict[int, list[float]]) -> list[dict]:
    return [{"real_steps": s, "mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)),
             "runs": len(v)} for s, v in points.items()]


def plot(series: dict[str, list[dict]], flat: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in series.items():
        if not rows:  # a run that has not scored yet
            continue
        x = [r["real_steps"] for r in rows]
        # runs, not seeds: a seed run twice is two runs (CPU training is not bit-reproducible)
        runs = max(r["runs"] for r in rows)
        ax.plot(x, [r["mean"] for r in rows], marker="o", label=f"{name} ({runs} run{'s' if runs > 1 else ''})")
        ax.fill_between(x, [r["min"] for r in rows], [r["max"] for r in rows], alpha=0.2)
    for name, score in flat.items():
        ax.axhline(score, linestyle="--", color="grey")
        ax.annotate(name, (ax.get_xlim()[0], score), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("real Crafter steps")
    ax.set_ylabel("Crafter score (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loop", nargs="+", required=True, help="loop run folders (one per seed)")
    p.add_argument("--loop-name", default="loop", help="the loop series' name in the legend")
    p.add_argument("--real", nargs="*", default=[], help="real-game PPO run folders (agents.loop.baseline)")
    p.add_argument("--series", nargs="*", default=[], metavar="NAME=RUN,RUN", help="more series, each named")
    p.add_argument("--flat", nargs="*", default=[], metavar="NAME=SCORE", help="fixed policies' scores")
    p.add_argument("--out", default="runs/loop_curve.png")
    a = p.parse_args(argv)
    flat = {}
    for item in a.flat:
        name, _, score = item.rpartition("=")
        try:
            flat[name] = float(score)
        except ValueError:
            p.error(f"--flat takes NAME=SCORE, got {item!r}")
    series = {a.loop_name: summary(read_curves(a.loop))}
    if a.real:
        series["real-game PPO"] = summary(read_curves(a.real))
    for item in a.series:
        name, _, runs = item.partition("=")
        runs = [r for r in runs.split(",") if r]
        if not name or not runs:
            p.error(f"--series takes NAME=RUN,RUN, got {item!r}")
        if name in series:
            p.error(f"--series {name!r}: there is a series of that name already")
        series[name] = summary(read_curves(runs))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(series, flat, out)
    table = {"series": series, "flat": flat}
    out.with_suffix(".json").write_text(json.dumps(table, indent=1))
    for name, rows in series.items():
        for r in rows:
            print(f"{name:>24} {r['real_steps']:>9} steps: {r['mean']:.2f} % (min {r['min']:.2f}, max {r['max']:.2f}, "
                  f"{r['runs']} runs)")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return table


if __name__ == "__main__":
    main()
