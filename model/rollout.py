"""The dream: roll the world model forward one action at a time.

`WorldModel` bundles a trained VideoVAE and SpacetimeDiT with the start frames they ship with.
`DreamRollout` keeps a batch of dreams: `reset` encodes real start frames into the KV cache,
`step` samples the next latent frame for each action (a few Euler steps against the cache),
runs one clean pass that reads the reward/termination heads and writes the frame into the
ring-buffer cache, and decodes the frame. Memory and time per step are constant.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.diffusion import sample_next_frame
from model.dit import KVCache, SpacetimeDiT
from model.dream_rules import DreamRules
from model.move_gate import MoveGate
from model.training import autocast
from model.vae import VideoVAE
from model.world_parts import WORLD_ID, WORLD_PARTS, check_world_parts, new_world_id

START_BANK_KIND = "StartBank"
# DreamRollout settings a world folder may store (its "rollout" meta); these are the defaults.
ROLLOUT_SETTINGS = {"context_sigma": 0.05, "reground": False, "guidance": 1.0, "start_sigma": 1.0, "fresh_steps": 1}


@dataclass
class WorldModel:
    """A trained world: VAE + DiT + a bank of real start clips (k frames and the actions into them)."""

    vae: VideoVAE
    dit: SpacetimeDiT
    start_frames: torch.Tensor  # (n, k, H, W, 3) uint8
    start_actions: torch.Tensor  # (n, k, A) int64, action that led to each frame (-1 = none)
    meta: dict
    move_gate: MoveGate | None = None  # which moves the game refuses (move_gate.safetensors; optional)

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> "WorldModel":
        """Load `<folder>/vae.safetensors`, `dit.safetensors`, `start_bank.safetensors` and, where
        the world has one, `move_gate.safetensors`."""
        folder = Path(folder)
        missing = [f for f in ("vae.safetensors", "dit.safetensors", "start_bank.safetensors")
                   if not (folder / f).exists()]
        if missing:
            raise CheckpointError(
                f"{folder}: world model files missing: {missing}. Train one with scripts/train_world.py "
                "(docs/training.md) or pass the folder of a trained world."
            )
        vae = VideoVAE.load(folder / "vae.safetensors").to(device)
        dit, meta = SpacetimeDiT.load(folder / "dit.safetensors")
        dit = dit.to(device)
        if dit.cfg.latent_channels != vae.cfg.latent_channels:
            raise CheckpointError(
                f"{folder}: DiT expects {dit.cfg.latent_channels} latent channels, VAE gives {vae.cfg.latent_channels}"
            )
        bank, bank_meta = load_checkpoint(folder / "start_bank.safetensors", START_BANK_KIND)
        gate = gate_meta = None
        if (folder / "move_gate.safetensors").exists():
            gate, gate_meta = MoveGate.load(folder / "move_gate.safetensors", dit.cfg.latent_channels)
            moves = {a for a, _, _ in dit.cfg.view_moves}
            if not set(gate.cfg.moves) <= moves:
                raise CheckpointError(f"{folder}: the move gate judges actions {list(gate.cfg.moves)}, but the "
                                      f"DiT's view moves are {sorted(moves)}")
            gate = gate.to(device)
        check_world_parts(folder, vae, dit, meta, bank, bank_meta, gate, gate_meta)  # model/world_parts.py
        return cls(vae, dit, bank["frames"], bank["actions"], meta, gate)

    def save(self, folder: str | Path, dit_dtype: torch.dtype = torch.bfloat16, **meta) -> None:
        folder = Path(folder)
        # one new id in every part, and the parts in the DiT's meta: a load checks they belong together
        ids = {WORLD_ID: new_world_id()}
        parts = ["vae.safetensors", "dit.safetensors", "start_bank.safetensors"]
        parts += ["move_gate.safetensors"] if self.move_gate is not None else []
        self.vae.save(folder / "vae.safetensors", **ids)
        self.dit.save(folder / "dit.safetensors", dtype=dit_dtype, **{**self.meta, **meta, **ids, WORLD_PARTS: parts})
        save_checkpoint(folder / "start_bank.safetensors",
                        {"frames": self.start_frames, "actions": self.start_actions}, START_BANK_KIND, **ids)
        if self.move_gate is not None:
            self.move_gate.save(folder / "move_gate.safetensors", **ids)

    def save_replacing(self, folder: str | Path, **meta) -> Path:
        """`save` into `<folder>.tmp`, check that it loads, then swap it in for `folder`.

        A crash or a failed check leaves `folder` as it was and no half-written files behind. Files
        of the old folder that a world does not write (its README) are kept, but not its model files
        (*.safetensors: a move gate the new world does not have goes).
        """
        import shutil

        folder = Path(folder)
        tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.save(tmp, **meta)
            if folder.is_dir():
                for f in folder.iterdir():
                    if f.is_file() and f.suffix != ".safetensors" and not (tmp / f.name).exists():
                        shutil.copy2(f, tmp / f.name)
            WorldModel.load(tmp).rollout_defaults  # noqa: B018 -- refuse a world that does not load
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        return folder

    @property
    def achievements(self) -> list[str]:
        """Names of the achievements the heads tell apart (meta "achievements"; empty if they do not)."""
        names = self.meta.get("achievements") or []
        if len(names) != self.dit.cfg.achievements:
            raise CheckpointError(f"world names {len(names)} achievements but its DiT predicts "
                                  f"{self.dit.cfg.achievements}")
        return list(names)

    def start_latent_hw(self) -> tuple[int, int]:
        """(h, w) of the latents of this world's start frames (the VAE's spatial factor is 8)."""
        h, w = self.frame_shape[:2]
        return h // 8, w // 8

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.start_frames.shape[2:])

    @property
    def action_nvec(self) -> tuple[int, ...]:
        return self.dit.cfg.action_nvec

    @property
    def rollout_defaults(self) -> dict:
        """How this world is meant to be dreamed, stored with it (meta "rollout"): the noise level
        of cached frames, whether generated frames are re-encoded, the action guidance scale, the
        noise level sampling starts from, and the steps that draw the unguessed cells down to it
        (DreamRollout's arguments)."""
        r = self.meta.get("rollout") or {}
        if not isinstance(r, dict) or not set(r) <= set(ROLLOUT_SETTINGS):
            raise CheckpointError(f"world meta 'rollout' may only hold {sorted(ROLLOUT_SETTINGS)}, got {r!r}")
        out = {**ROLLOUT_SETTINGS, **r}
        try:
            out = {"context_sigma": float(out["context_sigma"]), "reground": bool(out["reground"]),
                   "guidance": float(out["guidance"]), "start_sigma": float(out["start_sigma"]),
                   "fresh_steps": int(out["fresh_steps"])}
        except (TypeError, ValueError):
            raise CheckpointError(f"world meta 'rollout' has a value of the wrong type: {r!r}") from None
        if (not 0.0 <= out["context_sigma"] < 1.0 or out["guidance"] < 0 or not 0.0 < out["start_sigma"] <= 1.0
                or out["fresh_steps"] < 1):
            raise CheckpointError("world meta 'rollout' out of range (context_sigma in [0, 1), guidance >= 0, "
                                  f"start_sigma in (0, 1], fresh_steps >= 1): {r!r}")
        return out


@dataclass
class StepResult:
    frames: np.ndarray  # (b, H, W, 3) uint8
    rewards: np.ndarray  # (b,) float32: predicted unlock (0/1) + predicted health change
    terminated: np.ndarray  # (b,) bool
    unlock_prob: np.ndarray  # (b,) float32
    # (b,) int64: which achievement unlocked (index into the world's meta "achievements"), -1 for
    # none or when the world's heads do not name achievements
    achievement: np.ndarray | None = None


class DreamRollout:
    """A batch of `batch` dreams stepping together (see module docstring).

    steps: Euler denoising steps per frame (the speed knob); context: cached frames (defaults to
    the model's window - 1). context_sigma, reground and guidance default to the world's
    `rollout_defaults`. guidance: classifier-free guidance scale on the action (1 = none; larger
    follows the action more strongly, at twice the denoising work, run as one batched pass).
    context_sigma: noise level at which generated frames enter the cache
    (noise augmentation against drift; must match training, 0..FlowConfig.context_noise);
    reground: re-encode each generated frame from its decoded uint8 pixels before it enters the
    context, so the context holds latents of real-looking frames (as in training) rather than the
    DiT's raw outputs, whose small errors otherwise compound over long dreams.
    start_sigma: the noise level each frame's sampling starts from. 1 starts from pure noise; below
    1 it starts from the previous frame (moved with the view where the model knows the moves)
    noised to that level, so the parts of the scene that do not change are kept rather than
    redrawn. Only the view's rows start there (`DiTConfig.view_rows`), less the strip a step
    brings into view: the rest (e.g. a fixed inventory overlay) is drawn from pure noise by `fresh_steps`
    steps down to start_sigma, so items can still appear. That takes fresh_steps + 1 or more steps:
    with fewer, every frame is drawn from pure noise (a warning says so).
    fresh_steps: of the `steps`, how many draw the unguessed cells from pure noise down to
    start_sigma (the world's setting; 1 by default). More of them draw new terrain more varied
    (docs/results/world.md), at one more DiT pass each.
    move_gate: with a world that has a `MoveGate`, moves it calls refused keep the view still
    (the DiT's moved input and the start guess are the unmoved previous frame), as the game does at
    an obstacle. False dreams every move as going through.
    rules: a game's `DreamRules` (model/dream_rules.py), or None. Start clips and teacher-forced
    frames reach the DiT through its `model_frames`, the DiT is given its `model_actions`, it is
    told which moves the gate refused, and it redraws each dreamed frame before the frame is
    returned and enters the context (re-encoded from the redrawn pixels). The model knows nothing
    of what it draws.
    reward_step: the grid the game's non-achievement rewards lie on (the heads' regression is
    rounded to it); None keeps the regression as it is.
    """

    def __init__(self, world: WorldModel, batch: int = 1, steps: int = 2, context: int | None = None,
                 context_sigma: float | None = None, guidance: float | None = None, bf16: bool = True, seed: int = 0,
                 device: str | torch.device = "cpu", reground: bool | None = None,
                 start_sigma: float | None = None, move_gate: bool = True, fresh_steps: int | None = None,
                 rules: DreamRules | None = None, reward_step: float | None = None):
        self.world, self.batch, self.steps = world, batch, steps
        if rules is not None and not isinstance(rules, DreamRules):
            raise TypeError(f"rules must be a model.dream_rules.DreamRules, got {type(rules).__name__}")
        self.rules = rules
        if reward_step is not None and not (math.isfinite(reward_step) and reward_step > 0):
            raise ValueError(f"reward_step must be a positive number or None, got {reward_step}")
        self.reward_step = reward_step
        self.gate = world.move_gate if move_gate else None
        self._gate_size_warned = False
        for name, value in (("steps", steps), ("context", context), ("batch", batch)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
        self.context = world.dit.cfg.window - 1 if context is None else int(context)
        if not 1 <= self.context < world.dit.cfg.window:
            raise ValueError(f"context must be in [1, {world.dit.cfg.window - 1}], got {self.context}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        defaults = world.rollout_defaults
        self.context_sigma = defaults["context_sigma"] if context_sigma is None else float(context_sigma)
        self.reground = defaults["reground"] if reground is None else bool(reground)
        if not 0.0 <= self.context_sigma < 1.0:
            raise ValueError(f"context_sigma must be in [0, 1), got {self.context_sigma}")
        self.guidance = defaults["guidance"] if guidance is None else float(guidance)
        if not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise ValueError(f"guidance must be a finite number >= 0, got {self.guidance}")
        self.start_sigma = defaults["start_sigma"] if start_sigma is None else float(start_sigma)
        self.fresh_steps = defaults["fresh_steps"] if fresh_steps is None else int(fresh_steps)
        if self.fresh_steps < 1:
            raise ValueError(f"fresh_steps must be >= 1, got {self.fresh_steps}")
        if not 0.0 < self.start_sigma <= 1.0:
            raise ValueError(f"start_sigma must be in (0, 1], got {self.start_sigma}")
        if self.start_sigma < 1.0 and not world.dit.cfg.view_moves:
            warnings.warn("start_sigma < 1 on a world whose DiT does not know the moves (view_moves): frames start "
                          "from the unmoved previous frame, and the view follows moves poorly (docs/design.md)",
                          stacklevel=2)
        if self.start_sigma < 1.0 and steps <= self.fresh_steps:
            warnings.warn(f"start_sigma {self.start_sigma} needs {self.fresh_steps + 1} or more denoising steps "
                          f"({self.fresh_steps} draw the cells the previous frame does not give); with steps={steps} "
                          "every frame is drawn from pure noise", stacklevel=2)
        self.bf16 = bf16
        self.device = torch.device(device)
        # One generator per dream, so dream i of a batch draws the same noise as a lone dream
        # with the same seed (a vector env equals N single envs).
        self.gens = [torch.Generator(device=self.device).manual_seed(seed + i) for i in range(batch)]
        self.cache = KVCache(self.context)
        self.latent_shape: tuple[int, ...] | None = None
        self.last_z: torch.Tensor | None = None  # (b, 1, c, h, w) newest frame before context noise

    def seed(self, seed: int | list[int]) -> None:
        """Seed every dream's noise: a list gives one seed per dream, an int seeds dream i with seed + i."""
        seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed + i for i in range(self.batch)]
        if len(seeds) != self.batch:
            raise ValueError(f"need {self.batch} seeds, got {len(seeds)}")
        for g, s in zip(self.gens, seeds, strict=True):
            g.manual_seed(int(s))

    def _randn(self, shape) -> torch.Tensor:
        """Gaussian noise of `shape` (b, ...), row i from dream i's generator."""
        return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=self.device) for g in self.gens])

    def _check_actions(self, actions, lead) -> torch.Tensor:
        nvec = self.world.action_nvec
        a = torch.as_tensor(np.asarray(actions), dtype=torch.int64, device=self.device)
        if a.ndim == len(lead) and len(nvec) == 1:
            a = a[..., None]
        want = (*lead, len(nvec))
        if tuple(a.shape) != want:
            raise ValueError(f"actions must have shape {want}, got {tuple(a.shape)}")
        hi = torch.tensor(nvec, device=self.device)
        if ((a < -1) | (a >= hi)).any():
            raise ValueError(f"actions out of range: part i must be in [0, {list(nvec)}[i])")
        return a

    @torch.no_grad()
    def reset(self, frames, actions=None) -> None:
        """Start from real frames (b, k, H, W, 3) uint8 and the actions that led to them (b, k, A)."""
        frames = np.asarray(frames)
        if frames.ndim != 5 or frames.shape[0] != self.batch or frames.shape[-1] != 3:
            raise ValueError(f"start frames must be ({self.batch}, k, H, W, 3) uint8, got {tuple(frames.shape)}")
        b, k = frames.shape[:2]
        if actions is None:
            actions = -np.ones((b, k, len(self.world.action_nvec)), np.int64)
        actions = self._check_actions(actions, (b, k))
        k_use = min(k, self.context)  # a longer clip (a prompt video) is seen through the window
        frames, actions = torch.as_tensor(self._model_frames(frames[:, -k_use:])), actions[:, -k_use:]
        with autocast(self.device, self.bf16):
            z = self.world.vae.encode_images(frames.flatten(0, 1)).unflatten(0, (b, k_use))  # (b, k, c, h, w)
        self.latent_shape = (b, 1, *z.shape[2:])
        self.cache = KVCache(self.context)
        for t in range(k_use):
            self._write(z[:, t : t + 1], actions[:, t], self._gate_stay(actions[:, t], t > 0))

    @torch.no_grad()
    def reset_rows(self, rows: list[int], frames, actions) -> None:
        """Restart only the dreams in `rows` from start clips of exactly `context` frames.

        The others keep their state. Needs a full cache (true after any reset with a full clip).
        """
        frames = np.asarray(frames)
        if frames.shape[:2] != (len(rows), self.context):
            raise ValueError(f"reset_rows needs clips of shape ({len(rows)}, {self.context}, H, W, 3), "
                             f"got {frames.shape}")
        if self.cache.frames != self.context:
            raise ValueError("reset_rows needs every dream to have a full context; reset() them all first")
        part = DreamRollout(self.world, batch=len(rows), steps=self.steps, context=self.context,
                            context_sigma=self.context_sigma, guidance=self.guidance, bf16=self.bf16,
                            device=self.device, reground=self.reground, start_sigma=1.0,
                            move_gate=self.gate is not None)  # it only encodes
        part.gens = [self.gens[r] for r in rows]
        part.reset(self._model_frames(frames), actions)
        self.cache.copy_rows(list(rows), part.cache)
        self.last_z[list(rows)] = part.last_z

    def _model_frames(self, frames: np.ndarray) -> np.ndarray:
        """Real frames (..., H, W, 3) as the DiT is given them: through the rules' `model_frames`."""
        if self.rules is not None:
            return np.asarray(self.rules.model_frames(frames))
        return frames

    def _gate_stay(self, action, has_prev: bool = True) -> torch.Tensor | None:
        """(b,) bool: the moves `action` (b, A) the gate calls refused from the last frame, or None
        where the dream does not tell moves apart (no gate, or no last frame). Given frames (start
        clips, teacher forcing) are judged the same way as dreamed ones: the gate reads real
        latents right 99.9 % of the time, which comparing the frames themselves does not
        (uniform terrain looks the same moved or not)."""
        if self.gate is None or not has_prev or self.last_z is None:
            return None
        if tuple(self.last_z.shape[-2:]) != self.gate.cfg.latent_hw:
            if not self._gate_size_warned:
                warnings.warn(f"the world's move gate reads {self.gate.cfg.latent_hw} latents, these frames give "
                              f"{tuple(self.last_z.shape[-2:])}: every move moves the view", stacklevel=3)
                self._gate_size_warned = True
            return None
        return self.gate.refused(self.last_z[:, 0], action)

    def _write(self, z, action, stay=None):
        """Clean pass: put frame z into the cache; returns the heads (b, 3). `stay` (b,) bool: the
        moves that left the view still (None: every move moved it)."""
        self.last_z = z.float()
        sigma = torch.full((z.shape[0],), self.context_sigma, device=self.device)
        if self.context_sigma > 0:
            eps = self._randn(z.shape)
            z = (1 - self.context_sigma) * z + self.context_sigma * eps
        with autocast(self.device, self.bf16):
            _, heads = self.world.dit.forward_frame(z, sigma, action, self.cache, write=True, stay=stay)
        return heads[:, 0].float()

    @torch.no_grad()
    def observe(self, frames, actions) -> np.ndarray:
        """Teacher forcing: write real frames (b, H, W, 3) reached by `actions` (b,) or (b, A) into
        the context instead of generated ones; returns the heads on them (b, 3): unlock logit,
        rest of the reward, termination logit."""
        if self.latent_shape is None:
            raise RuntimeError("call reset() before observe()")
        a = self._check_actions(actions, (self.batch,))
        with autocast(self.device, self.bf16):
            z = self.world.vae.encode_images(torch.as_tensor(self._model_frames(np.asarray(frames))))[:, None]
        return self._write(z, a, self._gate_stay(a)).cpu().numpy()

    def _start_mask(self, actions, stay=None) -> torch.Tensor:
        """(b, 1, 1, h, w) bool for actions (b, A): the cells that start from the moved previous
        frame. Those are the view's rows (DiTConfig.view_rows; all rows if 0), less the strip a step
        brings into view, which the previous frame never showed. The rest is drawn from noise.
        Starting a fixed overlay's rows (an inventory) from the previous frame would keep items from ever
        changing."""
        h, w = self.latent_shape[-2:]
        dit = self.world.dit
        mask = torch.zeros(actions.shape[0], h, w, dtype=torch.bool, device=self.device)
        mask[:, : dit.cfg.view_rows if dit.cfg.view_rows > 0 else h] = True
        return (mask & ~dit.uncovered(actions, h, w, stay))[:, None, None]

    def _start_guess(self, actions, stay=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent (b, 1, c, h, w) each frame's sampling starts from and the cells that start there
        (`_start_mask`): the previous frame moved with the view. The camera follows the player, who
        stays at the centre of the view's rows while the ground moves under it, so after a step the
        centre cell keeps the player from the previous frame, not the tile it stepped onto (which the
        sampler, starting there, kept: the player vanished after 78 % of moves at horizon 1).
        The cell it stepped off shows ground the previous frame never did, so it is drawn like the
        new strip."""
        dit = self.world.dit
        start = dit.moved(self.last_z, actions[:, None], None if stay is None else stay[:, None]).float()
        mask = self._start_mask(actions, stay)
        h, w = self.latent_shape[-2:]
        cy, cx = (dit.cfg.view_rows or h) // 2, w // 2
        for action, dx, dy in dit.cfg.view_moves:
            hit = actions[:, 0] == action
            if stay is not None:
                hit = hit & ~stay
            if hit.any() and 0 <= cy - dy < h and 0 <= cx - dx < w:
                start[hit, :, :, cy, cx] = self.last_z[hit, :, :, cy, cx].float()
                mask[hit, :, :, cy - dy, cx - dx] = False
        return start, mask

    @torch.no_grad()
    def step(self, actions) -> StepResult:
        """Advance every dream by one action (b,) or (b, A); returns frames, rewards, terminations."""
        if self.latent_shape is None:
            raise RuntimeError("call reset() before step()")
        a = played = self._check_actions(actions, (self.batch,))
        if self.rules is not None:
            a = self._check_actions(self.rules.model_actions(played.cpu().numpy()), (self.batch,))
        stay = self._gate_stay(a)  # which moves the game would refuse, read from the last frame
        with autocast(self.device, self.bf16):
            start = mask = None
            start_sigma = self.start_sigma if self.steps > self.fresh_steps else 1.0
            if start_sigma < 1.0:
                start, mask = self._start_guess(a, stay)
            z = sample_next_frame(self.world.dit, self.cache, a, self.latent_shape, self.steps,
                                  self.guidance, noise=self._randn(self.latent_shape), start=start,
                                  start_sigma=start_sigma, start_mask=mask, stay=stay,
                                  fresh_steps=self.fresh_steps)
        if not torch.isfinite(z).all():
            raise FloatingPointError("the DiT produced a non-finite latent: the world's weights are corrupt or its "
                                     "settings out of range")
        with autocast(self.device, self.bf16):
            frames = self.world.vae.decode_images(z[:, 0])
        shown = None
        if self.rules is not None:
            self.rules.moves_refused(None if stay is None else stay.cpu().numpy())  # the view may follow the gate
            # the game redraws part of the frame; the context holds the redrawn frame
            out = self.rules(played.cpu().numpy(), frames.cpu().numpy())
            context, shown = out if isinstance(out, tuple) else (out, out)
            frames = torch.as_tensor(context, device=self.device)
        if self.reground or self.rules is not None:
            with autocast(self.device, self.bf16):
                z = self.world.vae.encode_images(frames)[:, None]
        heads = self._write(z, a, stay)
        frames = frames.cpu().numpy() if shown is None else np.asarray(shown)
        unlock = torch.sigmoid(heads[:, 0])
        unlocked = unlock > 0.5
        rest = heads[:, 1]
        if self.reward_step is not None:  # the game's rewards lie on a grid: round the regression to it
            scale = 1 / self.reward_step
            scale = round(scale) if abs(scale - round(scale)) < 1e-9 else scale  # 0.1 -> exactly 10
            rest = torch.round(rest * scale) / scale
        reward = unlocked.float() + rest
        done = torch.sigmoid(heads[:, 2]) > 0.5
        which = torch.full(unlocked.shape, -1, dtype=torch.int64, device=unlocked.device)
        if heads.shape[1] > 3:
            which = torch.where(unlocked, heads[:, 3:].argmax(1), which)
        return StepResult(frames, reward.cpu().numpy(), done.cpu().numpy(), unlock.cpu().numpy(),
                          which.cpu().numpy())
