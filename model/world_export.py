"""World folders out of training runs: export a trained DiT as a world, and ship a world.

    python scripts/ship_world.py --world runs/heads/world --to worldenv/worlds/<name> \
        --context-sigma 0.15 --reground --guidance 1.5 --start-sigma 0.3

A world folder is vae.safetensors + dit.safetensors (bf16) + start_bank.safetensors (and, where it
has one, move_gate.safetensors); the DiT's metadata names the game and stores how the world is
dreamed. World training exports one (`export_world`); shipping (`ship`) copies it where it is
played, with its rollout settings (noise on cached frames, re-encoding dreamed frames, action
guidance scale, the noise level sampling starts from) merged into the stored ones. DreamEnv,
play.py, bench.py and evaluate.py use them unless told otherwise (`WorldModel.rollout_defaults`);
choose them with `scripts/evaluate.py` (`--context-sigma`, `--reground`, `--guidance`,
`--start-sigma`, `--fresh-steps`). The destination is replaced atomically.

`--vae` swaps in another VAE with the *same latent space* (a decoder-only run of the VAE trainer
on the world's VAE): the DiT and its heads stay valid. A VAE whose encoder or latent statistics
differ is refused, since the DiT was trained on the old latents.

`--move-gate` adds a MoveGate (model/move_gate_training.py) trained on the world's latents: dreams
then keep the view still for moves it calls refused. `--no-move-gate` drops the world's gate.

`--start-bank` rebuilds the bank the dreams start from: the first frames of `--start-bank-size`
episodes of a recordings folder, each held still, as a new game starts (`model.data.start_clips`);
a world whose VAE was trained at a resized frame size (`train_vae.py --size`) gets the recordings
resized to it, any other needs recordings of its frame size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from model.cli import command_line
from model.dit import SpacetimeDiT
from model.move_gate import MoveGate
from model.rollout import WorldModel
from model.vae import VideoVAE


def export_world(dit: SpacetimeDiT, cfg, step: int, bank, game: str | None = None, vocab=None) -> Path:
    """Write `<cfg.out>/world`: the run's VAE (`cfg.vae`), `dit`, the start `bank` (frames, actions)
    and the rollout settings of the world trainer's config `cfg`; `game` names the game it dreams,
    `vocab` (a `model.text.FactVocabulary`) the facts its caption tokens stand for."""
    world = WorldModel(VideoVAE.load(cfg.vae), dit, torch.from_numpy(bank[0]), torch.from_numpy(bank[1]), {})
    rollout = {"context_sigma": cfg.rollout_context_sigma, "reground": cfg.rollout_reground,
               "guidance": cfg.rollout_guidance}
    meta = {"game": game} if game else {}
    if vocab is not None:
        meta["caption_vocabulary"] = vocab.to_dict()
    return world.save_replacing(Path(cfg.out) / "world", steps=step, latents=cfg.latents, preset=cfg.preset,
                                rollout=rollout, **meta)


def exported_step(world: str | Path) -> int | None:
    """The training step of the world exported to `world` (its DiT's meta "steps"), read from the
    file's header; None where no world is there (or its DiT cannot be read)."""
    import json

    from safetensors import SafetensorError, safe_open

    path = Path(world) / "dit.safetensors"
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            steps = (f.metadata() or {}).get("steps")
        return None if steps is None else int(json.loads(steps))
    except (SafetensorError, OSError, ValueError, TypeError):
        return None


def _gate(path: str, src: WorldModel, world: str) -> MoveGate:
    """A move gate from `path`, checked against the world's latents."""
    gate, _ = MoveGate.load(path, src.dit.cfg.latent_channels)
    if tuple(gate.cfg.latent_hw) != tuple(src.start_latent_hw()):
        raise SystemExit(f"error: {path} reads {gate.cfg.latent_hw} latents, {world} makes {src.start_latent_hw()}")
    return gate


def ship(world: str, to: str, vae: str = "", move_gate: str | None = None, start_bank: str = "",
         start_bank_size: int = 0, **rollout) -> Path:
    """Copy `world` to `to` with `rollout` settings merged into its stored ones (and, with `vae`,
    that VAE in place of the world's, if it has the same latent space; with `move_gate`, that gate,
    "" for none; with `start_bank`, a recordings folder, a start bank of its episodes' openings,
    `start_bank_size` of them, 0: as many as the world's); returns `to`."""
    src = WorldModel.load(world)
    if start_bank:
        from model.data import start_clips
        from model.latent_encoding import vae_frame_size

        n, k = len(src.start_frames), src.start_frames.shape[1]
        # A world whose VAE was trained on resized recordings (`train_vae.py --size`) gets its
        # bank resized to its frame size; others take the recordings as they are (another size is refused).
        h, w = src.start_frames.shape[2:4]
        size = (int(w), int(h)) if vae_frame_size(src.vae) is not None else None
        frames, actions = start_clips(start_bank, start_bank_size or n, k, seed=0, hold_openings=True, size=size)
        if frames.shape[2:] != tuple(src.start_frames.shape[2:]) or actions.shape[2:] != src.start_actions.shape[2:]:
            raise SystemExit(f"error: {start_bank} has frames {frames.shape[2:]} and actions {actions.shape[2:]}, "
                             f"{world} dreams frames {tuple(src.start_frames.shape[2:])} with actions "
                             f"{tuple(src.start_actions.shape[2:])}")
        src.start_frames, src.start_actions = torch.from_numpy(frames), torch.from_numpy(actions).to(torch.int64)
    if move_gate is not None:
        src.move_gate = _gate(move_gate, src, world) if move_gate else None
    if vae:
        new = VideoVAE.load(vae)
        if not new.same_latent_space(src.vae):
            raise SystemExit(f"error: {vae} encodes to other latents than {world}'s VAE (encoder or latent "
                             "statistics differ); the DiT only knows the old ones. Train a decoder-only VAE "
                             "from the world's VAE (--init ... --decoder-only).")
        src.vae = new
    settings = {**src.rollout_defaults, **{k: v for k, v in rollout.items() if v is not None}}
    dest = src.save_replacing(to, rollout=settings)  # checks that the settings load
    print(f"shipped {world} -> {dest} with rollout settings {settings}")
    return dest


@command_line
def main(argv=None) -> None:
    """`soraworld-ship-world` / `scripts/ship_world.py`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, help="trained world folder (e.g. runs/world/world)")
    p.add_argument("--to", required=True, help="destination folder (e.g. worldenv/worlds/<name>)")
    p.add_argument("--context-sigma", type=float, default=None)
    p.add_argument("--reground", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--start-sigma", type=float, default=None)
    p.add_argument("--fresh-steps", type=int, default=None)
    p.add_argument("--vae", default="", help="a VAE with the world's latent space to ship instead of its own")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--move-gate", default=None, help="a MoveGate (model/move_gate_training.py) to ship with the world")
    g.add_argument("--no-move-gate", dest="move_gate", action="store_const", const="", help="drop the world's gate")
    p.add_argument("--start-bank", default="", help="recordings folder: rebuild the start bank from its episodes' "
                   "first frames, held still as a new game starts")
    p.add_argument("--start-bank-size", type=int, default=0, help="clips in the rebuilt bank (0: as many as now)")
    a = p.parse_args(argv)
    ship(a.world, a.to, a.vae, a.move_gate, a.start_bank, a.start_bank_size,
                context_sigma=a.context_sigma, reground=a.reground, guidance=a.guidance,
                start_sigma=a.start_sigma, fresh_steps=a.fresh_steps)
