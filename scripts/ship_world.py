"""Ship a trained world folder: copy it (VAE, DiT, start bank) and store how it is dreamed.

    python scripts/ship_world.py --world runs/heads72b/world --to worldenv/worlds/crafter72 \
        --context-sigma 0.15 --reground --guidance 3 --start-sigma 0.3

The rollout settings (noise on cached frames, re-encoding dreamed frames, action guidance scale,
the noise level sampling starts from) go into the DiT checkpoint's metadata; DreamEnv, play.py,
bench.py and evaluate.py use them unless told otherwise (`WorldModel.rollout_defaults`). Choose
them with `scripts/evaluate.py` (`--context-sigma`, `--reground`, `--guidance`, `--start-sigma`,
`--fresh-steps`).
The destination is replaced atomically.

    python scripts/ship_world.py --world worldenv/worlds/crafter --to worldenv/worlds/crafter \
        --vae runs/vae_grow/vae.safetensors

`--vae` swaps in another VAE with the *same latent space* (a decoder-only run of
`train_vae.py` on the world's VAE): the DiT and its heads stay valid. A VAE whose encoder or
latent statistics differ is refused, since the DiT was trained on the old latents.

    python scripts/ship_world.py --world runs/heads72s/world --to worldenv/worlds/crafter72 \
        --move-gate runs/move_gate/move_gate.safetensors

`--move-gate` adds a MoveGate (`train_move_gate.py`) trained on the world's latents: dreams then
keep the view still for moves it calls refused. `--no-move-gate` drops the world's gate.
`--outcome-gate` adds an OutcomeGate (`train_move_gate.py --judge attempts`) to a world whose DiT
has outcome tokens (`train_world.py --outcomes`): dreams then draw each attempt's success from it.

    python scripts/ship_world.py --world worldenv/worlds/crafter72 --to worldenv/worlds/crafter72 \
        --start-bank data/crafter72

`--start-bank` rebuilds the bank the dreams start from: the first frames of `--start-bank-size`
episodes of a recordings folder, each held still, as a new game starts (`model.data.start_clips`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.move_gate import MoveGate  # noqa: E402
from model.outcome_gate import OutcomeGate  # noqa: E402
from model.rollout import WorldModel  # noqa: E402
from model.vae import VideoVAE  # noqa: E402


def _gate(cls, path: str, src: WorldModel, world: str):
    """A gate of class `cls` from `path`, checked against the world's latents."""
    gate, _ = cls.load(path, src.dit.cfg.latent_channels)
    if tuple(gate.cfg.latent_hw) != tuple(src.start_latent_hw()):
        raise SystemExit(f"error: {path} reads {gate.cfg.latent_hw} latents, {world} makes {src.start_latent_hw()}")
    return gate


def ship(world: str, to: str, vae: str = "", move_gate: str | None = None, outcome_gate: str | None = None,
         start_bank: str = "", start_bank_size: int = 0, **rollout) -> Path:
    """Copy `world` to `to` with `rollout` settings merged into its stored ones (and, with `vae`,
    that VAE in place of the world's, if it has the same latent space; with `move_gate` /
    `outcome_gate`, that gate, "" for none; with `start_bank`, a recordings folder, a start bank of
    its episodes' openings, `start_bank_size` of them, 0: as many as the world's); returns `to`."""
    src = WorldModel.load(world)
    if start_bank:
        import torch

        from model.data import start_clips

        n, k = len(src.start_frames), src.start_frames.shape[1]
        frames, actions = start_clips(start_bank, start_bank_size or n, k, seed=0, hold_openings=True)
        if frames.shape[2:] != tuple(src.start_frames.shape[2:]) or actions.shape[2:] != src.start_actions.shape[2:]:
            raise SystemExit(f"error: {start_bank} has frames {frames.shape[2:]} and actions {actions.shape[2:]}, "
                             f"{world} dreams frames {tuple(src.start_frames.shape[2:])} with actions "
                             f"{tuple(src.start_actions.shape[2:])}")
        src.start_frames, src.start_actions = torch.from_numpy(frames), torch.from_numpy(actions).to(torch.int64)
    if move_gate is not None:
        src.move_gate = _gate(MoveGate, move_gate, src, world) if move_gate else None
    if outcome_gate is not None:
        if outcome_gate and not src.dit.cfg.outcomes:
            raise SystemExit(f"error: {world}'s DiT has no outcome tokens to read an outcome gate's draws "
                             "(train it with train_world.py --outcomes)")
        src.outcome_gate = _gate(OutcomeGate, outcome_gate, src, world) if outcome_gate else None
    if vae:
        new = VideoVAE.load(vae)
        if not new.same_latent_space(src.vae):
            raise SystemExit(f"error: {vae} encodes to other latents than {world}'s VAE (encoder or latent "
                             "statistics differ); the DiT only knows the old ones. Train a decoder-only VAE "
                             "from the world's VAE (train_vae.py --init ... --decoder-only).")
        src.vae = new
    settings = {**src.rollout_defaults, **{k: v for k, v in rollout.items() if v is not None}}
    dest = src.save_replacing(to, rollout=settings)  # checks that the settings load
    print(f"shipped {world} -> {dest} with rollout settings {settings}")
    return dest


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, help="trained world folder (e.g. runs/world/world)")
    p.add_argument("--to", default="worldenv/worlds/crafter72", help="destination (default: the shipped world)")
    p.add_argument("--context-sigma", type=float, default=None)
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--start-sigma", type=float, default=None)
    p.add_argument("--fresh-steps", type=int, default=None)
    p.add_argument("--outcome-floor", type=float, default=None,
                   help="a chance of success below this is drawn as refused (worlds with an outcome gate)")
    p.add_argument("--vae", default="", help="a VAE with the world's latent space to ship instead of its own")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--move-gate", default=None, help="a MoveGate (train_move_gate.py) to ship with the world")
    g.add_argument("--no-move-gate", dest="move_gate", action="store_const", const="", help="drop the world's gate")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--outcome-gate", default=None,
                   help="an OutcomeGate (train_move_gate.py --judge attempts) to ship with the world")
    g.add_argument("--no-outcome-gate", dest="outcome_gate", action="store_const", const="",
                   help="drop the world's outcome gate")
    p.add_argument("--start-bank", default="", help="recordings folder: rebuild the start bank from its episodes' "
                   "first frames, held still as a new game starts")
    p.add_argument("--start-bank-size", type=int, default=0, help="clips in the rebuilt bank (0: as many as now)")
    a = p.parse_args(argv)
    return ship(a.world, a.to, a.vae, a.move_gate, a.outcome_gate, a.start_bank, a.start_bank_size,
                context_sigma=a.context_sigma,
                reground=a.reground, guidance=a.guidance, start_sigma=a.start_sigma, fresh_steps=a.fresh_steps,
                outcome_floor=a.outcome_floor)


if __name__ == "__main__":
    main()
