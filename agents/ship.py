"""Ship a trained PPO policy: its weights only (no optimizer state), with how it scored.

    python -m agents.ship --policy runs/ppo_dream_s0/policy.safetensors \
        --scored runs/eval_ppo_dream_s0/agent_eval.json --to agents/policies/crafter72_dream_ppo.safetensors

A training checkpoint (`agents.dream_ppo`) carries Adam's moments for `--resume`: two thirds of
its size. A shipped policy only acts, so they are left out; it still loads wherever a policy does
(`play.py --agent`, `agents.evaluate --policy`), and training from it starts a fresh optimizer.
`--scored` (the JSON `agents.evaluate` writes) stores the real-game score in the metadata, so a
shipped policy says what it was measured at. The destination is written atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agents.policy_io import KIND
from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.cli import command_line

SCORE_FIELDS = ("crafter_score", "mean_reward", "std_reward", "mean_length", "episodes", "game")


def ship_policy(policy: str, to: str, scored: str | None = None) -> dict:
    """Write `policy`'s weights and metadata (plus `scored`'s real-game numbers) to `to`; returns
    the shipped metadata."""
    tensors, meta = load_checkpoint(policy, KIND)
    weights = {k: v for k, v in tensors.items() if k.startswith("policy.")}
    if not weights:
        raise CheckpointError(f"{policy}: no policy weights in it")
    meta["shipped_from"] = str(policy)
    if scored is not None:
        try:
            result = json.loads(Path(scored).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"--scored {scored}: not a readable agents.evaluate JSON ({e})") from None
        missing = [f for f in ("crafter_score", "episodes") if f not in result]
        if missing:
            raise SystemExit(f"--scored {scored}: no {missing} (expected the JSON agents.evaluate writes)")
        if "policy" in result and Path(result["policy"]).resolve() != Path(policy).resolve():
            raise SystemExit(f"--scored {scored} scored {result['policy']}, not {policy}: score the policy you ship")
        meta["real_eval"] = {f: result[f] for f in SCORE_FIELDS if f in result}
    config = meta.pop("config", None)  # save_checkpoint takes it apart from the other fields
    save_checkpoint(to, weights, KIND, config, **meta)
    return meta


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy", required=True, help="a policy checkpoint of agents.dream_ppo")
    p.add_argument("--to", required=True, help="where to write the shipped policy (.safetensors)")
    p.add_argument("--scored", default=None, help="agents.evaluate's JSON for this policy (stored in the metadata)")
    a = p.parse_args(argv)
    meta = ship_policy(a.policy, a.to, a.scored)
    size = Path(a.to).stat().st_size / 1e6
    score = meta.get("real_eval", {}).get("crafter_score")
    print(f"shipped {a.to} ({size:.1f} MB, {meta.get('num_timesteps')} training steps in the {meta.get('env')} env"
          + (f", Crafter score {score:.2f} %" if score is not None else "") + ")")
    return meta


if __name__ == "__main__":
    main()
