"""Do a world folder's files belong together? Shapes always; an id stored at export where it has one.

A world is four files written together (`WorldModel.save`): the VAE, the DiT, the start bank and,
where the world has one, the move gate. Each save gives them one new random id (metadata
"world_id"), and the DiT's metadata lists the files saved ("world_parts"). On load:

- the shapes must fit: the start frames are a multiple of the VAE's factor 8 and their latents of
  the DiT's patch, the DiT's moving rows lie inside them, the bank's actions have the DiT's action
  parts, the gate reads the world's latents;
- a part whose id differs from the DiT's is another world's (a VAE or a gate copied in by hand);
- a part the DiT lists but the folder lacks (a deleted `move_gate.safetensors`) is missing.

A world saved before ids (the shipped one among them) has none: its parts are "unknown"
and only their shapes are checked; so is a part without an id in a world with one.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from model.checkpoint import CheckpointError

WORLD_ID = "world_id"  # metadata key of every part: the id of the save that wrote it
WORLD_PARTS = "world_parts"  # metadata key of the DiT: the files that save wrote
VAE_FACTOR = 8  # the VideoVAE's spatial factor


def new_world_id() -> str:
    """A fresh id for one save of a world's parts."""
    return uuid.uuid4().hex


def check_world_parts(folder: str | Path, vae, dit, dit_meta: dict, bank: dict, bank_meta: dict,
                      gate=None, gate_meta: dict | None = None) -> None:
    """CheckpointError naming the file whose part does not belong with the others (module doc)."""
    folder = Path(folder)
    frames, actions = bank["frames"], bank["actions"]
    where = folder / "start_bank.safetensors"
    if frames.ndim != 5 or frames.shape[-1] != 3 or actions.ndim != 3 or actions.shape[:2] != frames.shape[:2]:
        raise CheckpointError(f"{where}: start frames must be (n, k, H, W, 3) with actions (n, k, A), got "
                              f"{tuple(frames.shape)} and {tuple(actions.shape)}")
    h, w = int(frames.shape[2]), int(frames.shape[3])
    if h % VAE_FACTOR or w % VAE_FACTOR:
        raise CheckpointError(f"{where}: start frames of {w}x{h} px are not a multiple of the VAE's factor "
                              f"{VAE_FACTOR}: the bank is not this world's")
    lh, lw = h // VAE_FACTOR, w // VAE_FACTOR
    cfg = dit.cfg
    if lh % cfg.patch or lw % cfg.patch:
        raise CheckpointError(f"{folder / 'dit.safetensors'}: the DiT cuts latents into {cfg.patch}x{cfg.patch} "
                              f"patches, but the start frames ({w}x{h} px) give {lw}x{lh} latents")
    if cfg.view_rows > lh:
        raise CheckpointError(f"{folder / 'dit.safetensors'}: the DiT's view moves {cfg.view_rows} latent rows, the "
                              f"start frames ({w}x{h} px) have {lh}")
    if actions.shape[-1] != len(cfg.action_nvec):
        raise CheckpointError(f"{where}: actions of {actions.shape[-1]} part(s), the DiT takes "
                              f"{len(cfg.action_nvec)} ({list(cfg.action_nvec)})")
    if gate is not None and tuple(gate.cfg.latent_hw) != (lh, lw):
        raise CheckpointError(f"{folder / 'move_gate.safetensors'}: the move gate reads {tuple(gate.cfg.latent_hw)} "
                              f"latents, this world's frames ({w}x{h} px) give {(lh, lw)}")
    world_id = dit_meta.get(WORLD_ID)
    if world_id is None:
        return  # saved before ids: unknown, the shapes above are all there is to check
    listed = dit_meta.get(WORLD_PARTS) or []
    if "move_gate.safetensors" in listed and gate is None:
        raise CheckpointError(f"{folder}: move_gate.safetensors is missing: this world was saved with a move gate "
                              "(its DiT's metadata lists it). Restore the file, or ship the world without one "
                              "(scripts/ship_world.py --no-move-gate)")
    for name, meta in (("vae.safetensors", getattr(vae, "meta", None)), ("start_bank.safetensors", bank_meta),
                       ("move_gate.safetensors", gate_meta if gate is not None else None)):
        other = (meta or {}).get(WORLD_ID)
        if other is not None and other != world_id:
            raise CheckpointError(
                f"{folder / name} belongs to another world (its id {other}, this world's DiT has {world_id}): the "
                "parts of two worlds do not go together. Swap a VAE of the same latent space in with "
                "scripts/ship_world.py --vae, a gate with --move-gate")
