"""Does the dream let a player walk to the trees it sees, and does it show as many trees as the game?

    python scripts/evaluate_tree_seeking.py --starts data/crafter72 --out runs/eval_trees

PPO in the real game learns to walk to a tree it sees (wood in 75 % of episodes); PPO in the dream
does not carry that over (README, Results, stops 26-27). This separates the two halves of it with
two scripted players that read only the frame (`CrafterFrameParser`), played in the real game and
in the dream (`DreamVectorEnv`, episodes opened by `--starts` clips, the game's rules on):

- **seek**: faces and chops a tree next to it, else steps toward the nearest tree in view (along
  the longer axis; 20 % of steps a random move, so that it does not stick), else walks at random;
- **random**: uniform over the 17 actions.

Per episode of `--steps` steps: wood collected, whether any, the step of the first; per step: a
tree next to the player, and the trees in view (split by time, since the dream draws the strip a
step brings into view itself). Prints a table and writes `<out>/tree_seeking.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldenv.games.crafter.env import PLAYER_MOVES  # noqa: E402
from worldenv.games.crafter.ledger import ACTIONS  # noqa: E402
from worldenv.games.crafter.parse import CrafterFrameParser, template_parts  # noqa: E402

MOVES = {move: action for action, move in PLAYER_MOVES.items()}  # (dx, dy) -> action: left, right, up, down
DO = ACTIONS.index("do")
TIME_BINS = ((0, 1), (1, 10), (10, 30), (30, 60), (60, 100), (100, 200), (200, 10**9))


class TreeSeeker:
    """Scripted players of `n` games that read the tree tiles of each frame (see module docstring)."""

    def __init__(self, parser: CrafterFrameParser, n: int, seed: int, policy: str = "seek"):
        if policy not in ("seek", "random"):
            raise ValueError(f"policy must be 'seek' or 'random', got {policy!r}")
        obj, ground = template_parts(parser.template_names)
        self.is_tree = np.array([g == "tree" and not o for o, g in zip(obj, ground, strict=True)])
        self.parser, self.policy = parser, policy
        self.centre = (parser.rows // 2, parser.cols // 2)
        self.rng = np.random.default_rng(seed)
        self.facing = [(0, 1)] * n  # crafter's player starts facing down

    def act(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions (n,) for frames (n, H, W, 3), with whether a tree is next to each player (n,)
        and the trees in each view (n,)."""
        trees = self.is_tree[self.parser.templates(frames)[0]]  # (n, rows, cols)
        r0, c0 = self.centre
        actions, adjacent = [], []
        for i, tree in enumerate(trees):
            beside = [d for d in MOVES if tree[r0 + d[1], c0 + d[0]]]
            adjacent.append(bool(beside))
            ys, xs = np.nonzero(tree)
            if self.policy == "random":
                a = int(self.rng.integers(len(ACTIONS)))
            elif beside:  # a move into a tree only turns the player toward it
                a = DO if self.facing[i] in beside else MOVES[beside[0]]
            elif len(ys) and self.rng.uniform() > 0.2:
                j = int((np.abs(ys - r0) + np.abs(xs - c0)).argmin())
                dx, dy = int(xs[j] - c0), int(ys[j] - r0)
                a = MOVES[(int(np.sign(dx)), 0)] if abs(dx) >= abs(dy) else MOVES[(0, int(np.sign(dy)))]
            else:
                a = list(MOVES.values())[self.rng.integers(4)]
            self.facing[i] = PLAYER_MOVES.get(a, self.facing[i])
            actions.append(a)
        return np.array(actions), np.array(adjacent), trees.sum((1, 2))


def summarize(where: str, policy: str, wood, first, adjacent, in_view, step) -> dict:
    wood, first = np.asarray(wood, float), np.asarray(first, float)
    in_view, step = np.asarray(in_view, float), np.asarray(step)
    got = np.isfinite(first)
    by_time = {f"{a}-{b}" if b < 10**9 else f"{a}+": round(float(in_view[(step >= a) & (step < b)].mean()), 2)
               for a, b in TIME_BINS if ((step >= a) & (step < b)).any()}
    return {"where": where, "policy": policy, "episodes": len(wood), "wood_per_episode": float(wood.mean()),
            "any_wood": float(got.mean()), "first_wood_step_median": float(np.median(first[got])) if got.any() else None,
            "tree_next_to_player": float(np.mean(adjacent)), "trees_in_view": float(in_view.mean()),
            "trees_in_view_by_step": by_time}


def play_real(policy: str, episodes: int, steps: int, seed: int, size: tuple[int, int]) -> dict:
    """`episodes` real games from seeds `seed`, `seed + 1`, ..."""
    from worldenv.games.crafter.env import CrafterEnv

    parser = CrafterFrameParser(size=size)
    wood, first, adjacent, in_view, when = [], [], [], [], []
    for ep in tqdm(range(episodes), desc=f"real {policy}", unit="ep"):
        env = CrafterEnv(captions=False, size=size)
        obs, info = env.reset(seed=seed + ep)
        player = TreeSeeker(parser, 1, seed + ep, policy)
        got, at = 0, np.nan
        for t in range(steps):
            a, beside, n = player.act(obs[None])
            adjacent.append(beside[0]), in_view.append(n[0]), when.append(t)
            before = info["inventory"]["wood"]
            obs, _, term, trunc, info = env.step(int(a[0]))
            if info["inventory"]["wood"] > before:
                got, at = got + 1, (t if np.isnan(at) else at)
            if term or trunc:
                break
        wood.append(got), first.append(at)
    return summarize("real", policy, wood, first, adjacent, in_view, when)


def play_dream(policy: str, episodes: int, steps: int, seed: int, world: str, starts: str, num_envs: int,
               hold_openings: bool, keep_terrain: bool = True, denoise_steps: int = 2,
               guidance: float | None = None, start_sigma: float | None = None) -> dict:
    """Dreams of `steps` steps, `num_envs` at a time, opened by `starts` clips (the world's bank
    without them); wood is what the game's rules (the inventory ledger) pay for. `keep_terrain`
    as in SoraWorld-v0 (the view's terrain and a memory of it by the game's rules); the sampler's
    `denoise_steps`, action `guidance` and `start_sigma` (None: the world's) as DreamVectorEnv's."""
    from worldenv.dream_vector_env import DreamVectorEnv

    env = DreamVectorEnv(num_envs=num_envs, world=world or None, max_episode_steps=10**9, starts=starts or None,
                         num_starts=max(episodes, 64), start_anywhere=False, hold_openings=hold_openings,
                         keep_inventory=None, keep_terrain=None if keep_terrain else False, steps=denoise_steps,
                         guidance=guidance, start_sigma=start_sigma)
    if env.ledger is None:
        raise SystemExit("error: the dream has no inventory ledger (not a Crafter world): wood cannot be counted")
    h, w = env.single_observation_space.shape[:2]
    parser = CrafterFrameParser(size=(w, h))
    wood, first, adjacent, in_view, when = [], [], [], [], []
    rounds = -(-episodes // num_envs)
    for r in tqdm(range(rounds), desc=f"dream {policy}", unit="round"):
        obs, _ = env.reset(seed=seed + 1000 * r)
        player = TreeSeeker(parser, num_envs, seed + r, policy)
        got, at, alive = np.zeros(num_envs), np.full(num_envs, np.nan), np.ones(num_envs, bool)
        for t in range(steps):
            a, beside, n = player.act(obs)
            adjacent += beside[alive].tolist()
            in_view += n[alive].tolist()
            when += [t] * int(alive.sum())
            obs, _, term, trunc, _ = env.step(a)
            chopped = np.array(["collect_wood" in e for e in env.ledger.events]) & alive
            at[chopped & np.isnan(at)] = t
            got += chopped
            alive &= ~(term | trunc)  # a dream that ends is not followed into the next one
        wood += got.tolist()
        first += at.tolist()
    return summarize("dream", policy, wood[:episodes], first[:episodes], adjacent, in_view, when)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="", help="world folder (default: shipped)")
    p.add_argument("--starts", default="", help="recordings folder whose openings start the dreams (default: the "
                   "world's bank)")
    p.add_argument("--hold-openings", action=argparse.BooleanOptionalAction, default=True,
                   help="open dreams with an episode's first frame held still, as a game starts (default), or "
                   "with its first frames as recorded")
    p.add_argument("--keep-terrain", action=argparse.BooleanOptionalAction, default=True,
                   help="the dream's terrain and its memory by the game's rules (SoraWorld-v0's default)")
    p.add_argument("--denoise-steps", type=int, default=2, help="denoising steps per dreamed frame")
    p.add_argument("--guidance", type=float, default=None, help="the dream's action guidance (default: the world's)")
    p.add_argument("--start-sigma", type=float, default=None,
                   help="noise level a dreamed frame starts from (1: pure noise; default: the world's)")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--steps", type=int, default=100, help="steps per episode")
    p.add_argument("--num-envs", type=int, default=16, help="dreams stepped together")
    p.add_argument("--policies", nargs="+", default=["seek", "random"], choices=["seek", "random"])
    p.add_argument("--where", nargs="+", default=["real", "dream"], choices=["real", "dream"])
    p.add_argument("--seed", type=int, default=123_456, help="first real game's seed (and the dreams')")
    p.add_argument("--out", default="runs/eval_trees")
    a = p.parse_args(argv)
    if a.episodes < 1 or a.steps < 1 or a.num_envs < 1:
        p.error("--episodes, --steps and --num-envs must be >= 1")
    from worldenv.dream_env import world_frame_size

    size = world_frame_size(a.world or None)
    rows = []
    for where in a.where:
        for policy in a.policies:
            rows.append(play_real(policy, a.episodes, a.steps, a.seed, size) if where == "real" else
                        play_dream(policy, a.episodes, a.steps, a.seed, a.world, a.starts, a.num_envs, a.hold_openings,
                                   a.keep_terrain, a.denoise_steps, a.guidance, a.start_sigma))
    print(f"\n{'where':6} {'player':7} {'wood/ep':>8} {'any wood':>9} {'1st step':>9} {'tree beside':>12} "
          f"{'trees in view':>14}  by step")
    for r in rows:
        first = "-" if r["first_wood_step_median"] is None else f"{r['first_wood_step_median']:.0f}"
        print(f"{r['where']:6} {r['policy']:7} {r['wood_per_episode']:8.2f} {r['any_wood']:9.0%} {first:>9} "
              f"{r['tree_next_to_player']:12.1%} {r['trees_in_view']:14.2f}  {r['trees_in_view_by_step']}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    meta = {"world": a.world or "shipped", "starts": a.starts or "bank", "hold_openings": a.hold_openings,
            "keep_terrain": a.keep_terrain, "denoise_steps": a.denoise_steps, "guidance": a.guidance,
            "start_sigma": a.start_sigma, "steps": a.steps, "seed": a.seed}
    (Path(a.out) / "tree_seeking.json").write_text(json.dumps({"settings": meta, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
