"""Can the world model produce the game's events? Item gains dreamed from real moments.

    python scripts/evaluate_events.py --model worldenv/worlds/crafter72 --data data/crafter72_heldout \
        --out runs/eval_events

Teacher-forced fidelity (`soraworld-evaluate`) is dominated by movement; an agent in the dream
needs the rare frames where something happens: a sapling, wood, a drink. For each inventory item:

- **events**: up to --cases held-out moments where the real game raised the item's count. From
  the real frames before each, the next frame is dreamed --samples times with the real action;
  `hit rate` = share of dreamed frames whose parsed count rises. In the game it is 100 % for
  deterministic gains (wood from a tree, a drink from water); a sapling from grass is a 10 %
  chance in Crafter; energy rises during sleep on a hidden counter, whatever action was recorded.
- **non-events**: for each event, a moment after the same action where the real count did not
  rise; `false rate` = share of dreamed frames whose count rises anyway. It is 0 % for
  deterministic gains; for a sapling it is 10 % of the moments that face grass.

A model trained with unlock frames weighted up (the world trainer's `--event-weight`) overshoots random
outcomes on purpose (the odds of a sapling times the weight), so read its sapling hit rate against
that, not 10 %. Counts are read from the pixels with the Crafter frame parser, so this judges the
frames, not the reward head. Prints a table and writes `<out>/events.json`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.cli import command_line
from model.data import actions_into_frames, episode_arrays
from model.recordings import list_episodes, read_jsonl, recorded_view
from model.rollout import DreamRollout, WorldModel
from worldenv.games.crafter.evaluation.dreams import reward_step
from worldenv.games.crafter.parse import INVENTORY_ITEMS, CrafterFrameParser
from worldenv.worlds import make_rules

DEFAULT_ITEMS = ("sapling", "wood", "stone", "drink", "food", "energy", "wood_pickaxe", "wood_sword")


def find_moments(data: Path, items: list[str], context: int, cases: int, seed: int) -> dict:
    """{item: {"events": [(episode, t)], "non_events": [(episode, t)]}}: frames t >= context whose
    count of `item` rose (events) or, after the same action, did not (non-events). Picked at random
    (seeded) across the folder."""
    gains: dict[str, list] = {i: [] for i in items}
    by_action: dict[int, list] = {}
    for info in list_episodes(data):
        records = read_jsonl(data / f"{info.name}.jsonl")
        for t in range(context, len(records)):
            inv, before = records[t].get("inventory") or {}, records[t - 1].get("inventory") or {}
            action = records[t - 1].get("action")
            if not isinstance(action, int):
                continue
            rose = {i for i in items if inv.get(i, 0) > before.get(i, 0)}
            for i in rose:
                gains[i].append((info.name, t, action))
            by_action.setdefault(action, []).append((info.name, t, frozenset(rose)))
    moments = {}
    for item, found in gains.items():
        if not found:
            continue
        rng = np.random.default_rng([seed, INVENTORY_ITEMS.index(item)])  # an item's picks ignore the others
        events = [found[j] for j in sorted(rng.choice(len(found), min(cases, len(found)), replace=False))]
        non_events, taken = [], set()
        for _, _, action in events:  # one moment with the same action and no gain of this item, each once
            pool = [m for m in by_action[action] if item not in m[2] and (m[0], m[1]) not in taken]
            if pool:
                m = pool[rng.integers(len(pool))]
                taken.add((m[0], m[1]))
                non_events.append((m[0], m[1]))
        moments[item] = {"events": [(e, t) for e, t, _ in events], "non_events": non_events}
    return moments


def dreamed_rise_rate(world: WorldModel, data: Path, moments: list[tuple[str, int]], item: str,
                      parser: CrafterFrameParser, samples: int, steps: int, guidance: float | None,
                      seed: int, episodes: dict, context_sigma: float | None = None,
                      start_sigma: float | None = None, keep_inventory: bool = False) -> float:
    """Share of dreamed next frames, over all moments, whose parsed count of `item` is above the
    real previous frame's. With `keep_inventory`, the dreams keep the items by the game's rules
    (the "inventory" rule alone). Dream i of moment j is seeded with seed + j * samples + i."""
    k = world.dit.cfg.window - 1
    col = INVENTORY_ITEMS.index(item)
    rises = total = 0
    for j, (name, t) in enumerate(moments):
        if name not in episodes:
            episodes[name] = episode_arrays(data, name)
        ep = episodes[name]
        into = actions_into_frames(ep.actions)
        before = parser.inventory(ep.frames[t - 1:t])[0, col]
        # dream i of moment j gets seed + j * samples + i: no noise is shared between moments
        ledger = make_rules(world, samples, ["inventory"]) if keep_inventory else None
        roll = DreamRollout(world, batch=samples, steps=steps, guidance=guidance, seed=seed + j * samples,
                            context_sigma=context_sigma, start_sigma=start_sigma,
                            rules=ledger, reward_step=reward_step(world))
        clips, acts = np.repeat(ep.frames[None, t - k:t], samples, 0), np.repeat(into[None, t - k:t], samples, 0)
        roll.reset(clips, acts)
        if ledger is not None:
            ledger.reset(range(samples), clips, acts, [seed + j * samples + i for i in range(samples)])
        out = roll.step(np.repeat(into[t][None], samples, 0))
        rises += int((parser.inventory(out.frames)[:, col] > before).sum())
        total += samples
    return rises / max(total, 1)


@command_line
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="worldenv/worlds/crafter72", help="world folder (default: the shipped one)")
    p.add_argument("--data", required=True, help="held-out Crafter recordings (soraworld-collect's format)")
    p.add_argument("--out", default="runs/eval_events")
    p.add_argument("--items", default=",".join(DEFAULT_ITEMS), help="comma-separated inventory items")
    p.add_argument("--cases", type=int, default=8, help="real moments per item (and as many non-events)")
    p.add_argument("--samples", type=int, default=16, help="dreamed next frames per moment")
    p.add_argument("--steps", type=int, default=2, help="denoising steps per frame")
    p.add_argument("--guidance", type=float, nargs="+", default=[None],
                   help="action guidance scales to compare (default: the world's own)")
    p.add_argument("--context-sigma", type=float, default=None,
                   help="noise on the cached real frames (default: the world's own)")
    p.add_argument("--start-sigma", type=float, default=None,
                   help="noise level sampling starts from on the moved previous frame (default: the world's own)")
    p.add_argument("--keep-inventory", action="store_true",
                   help="dream with the game's inventory rule, as the dream env does on Crafter worlds (items by "
                        "the game's rules, InventoryLedger; the vitals stay the DiT's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    items = [i for i in args.items.split(",") if i]
    unknown = [i for i in items if i not in INVENTORY_ITEMS]
    if unknown:
        raise SystemExit(f"error: unknown items {unknown}; Crafter's are {list(INVENTORY_ITEMS)}")
    data = Path(args.data)
    world = WorldModel.load(args.model)
    first = list_episodes(data)[0]
    parser = CrafterFrameParser(size=(first.width, first.height), view=recorded_view(data))
    moments = find_moments(data, items, world.dit.cfg.window - 1, args.cases, args.seed)
    missing = [i for i in items if i not in moments]
    if missing:
        print(f"no real gains of {missing} in {data}; skipped")
    rows, episodes = [], {}
    jobs = [(item, g) for item in moments for g in args.guidance]
    for item, g in tqdm(jobs, desc="events"):
        m = moments[item]
        hit = dreamed_rise_rate(world, data, m["events"], item, parser, args.samples, args.steps, g, args.seed, episodes,
                                args.context_sigma, args.start_sigma, args.keep_inventory)
        # non-events draw other noise than events (an offset past every event's seeds)
        false = dreamed_rise_rate(world, data, m["non_events"], item, parser, args.samples, args.steps, g,
                                  args.seed + len(m["events"]) * args.samples, episodes, args.context_sigma,
                                  args.start_sigma, args.keep_inventory)
        rows.append({"item": item, "guidance": g if g is not None else world.rollout_defaults["guidance"],
                     "events": len(m["events"]), "non_events": len(m["non_events"]),
                     "hit_rate": hit, "false_rate": false})
    print(f"\n{args.model} on {data}: item count rises in dreamed next frames "
          f"({args.samples} samples per moment, {args.steps} steps)")
    print(f"{'item':<14}{'guidance':>9}{'events':>8}{'hit rate':>10}{'non-events':>12}{'false rate':>12}")
    for r in rows:
        print(f"{r['item']:<14}{r['guidance']:>9.1f}{r['events']:>8}{r['hit_rate']:>10.1%}{r['non_events']:>12}"
              f"{r['false_rate']:>12.1%}")
    result = {"model": args.model, "data": str(data), "samples": args.samples, "steps": args.steps,
              "keep_inventory": args.keep_inventory,
              "context_sigma": args.context_sigma, "start_sigma": args.start_sigma, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'events.json'}")
    return result
