"""Ship a trained world folder: copy it (VAE, DiT, start bank) and store how it is dreamed.

    python scripts/ship_world.py --world runs/world_xs2/world --to worldenv/worlds/crafter \
        --context-sigma 0.15 --reground --guidance 3

The rollout settings (noise on cached frames, re-encoding dreamed frames, action guidance scale)
go into the DiT checkpoint's metadata; DreamEnv, play.py, bench.py and evaluate.py use them
unless told otherwise (`WorldModel.rollout_defaults`). Choose them with `scripts/evaluate.py`
(`--context-sigma`, `--reground`, `--guidance`). The destination is replaced atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.rollout import WorldModel  # noqa: E402


def ship(world: str, to: str, **rollout) -> Path:
    """Copy `world` to `to` with `rollout` settings merged into its stored ones; returns `to`."""
    src = WorldModel.load(world)
    settings = {**src.rollout_defaults, **{k: v for k, v in rollout.items() if v is not None}}
    dest = src.save_replacing(to, rollout=settings)  # checks that the settings load
    print(f"shipped {world} -> {dest} with rollout settings {settings}")
    return dest


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, help="trained world folder (e.g. runs/world/world)")
    p.add_argument("--to", default="worldenv/worlds/crafter")
    p.add_argument("--context-sigma", type=float, default=None)
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--guidance", type=float, default=None)
    a = p.parse_args(argv)
    return ship(a.world, a.to, context_sigma=a.context_sigma, reground=a.reground, guidance=a.guidance)


if __name__ == "__main__":
    main()
