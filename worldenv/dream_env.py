"""SoraWorld-v0: the game as the world model dreams it, with the Gymnasium API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldenv.achievements import FirstUnlockRewards
from worldenv.window import FrameWindow, RendersFrames

# The default world: tile-aligned 72x72 Crafter (worlds/crafter72/README.md). worlds/crafter is the
# 64x64 world that was the default until stop 17.
SHIPPED_WORLD = Path(__file__).resolve().parent / "worlds" / "crafter72"


def world_frame_size(world: str | Path | None) -> tuple[int, int]:
    """(W, H) of the frames a world dreams (the shipped one for None), read from its start bank's
    header without loading the models: the real game must render at that size to be compared."""
    from safetensors import safe_open

    path = (Path(world) if world else SHIPPED_WORLD) / "start_bank.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: not a world folder")
    with safe_open(str(path), "pt") as f:
        h, w = f.get_slice("frames").get_shape()[2:4]
    return int(w), int(h)


def load_world(world: str | Path | None, device: str):
    """Load a world folder (vae/dit/start_bank safetensors); the shipped Crafter world by default."""
    from model.rollout import WorldModel

    return WorldModel.load(Path(world) if world else SHIPPED_WORLD, device=device)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available (use 'cpu' or 'auto')")
    return device


def load_start_clips(world, starts: str | Path | None, num_starts: int, seed: int = 0, anywhere: bool = True,
                     hold_openings: bool = False):
    """Start clips (frames (n, k, H, W, 3) uint8, actions (n, k, A)): the world's bank, or with
    `starts` a recordings folder, `num_starts` clips from random points of its episodes (with
    `anywhere=False`, from their openings: their first frames, or with `hold_openings` the first frame held
    still, as a new game starts; `model.data.start_clips`)."""
    if starts is None:
        return world.start_frames.numpy(), world.start_actions.numpy()
    from model.data import start_clips

    k = world.start_frames.shape[1]
    frames, actions = start_clips(starts, num_starts, k, seed=seed, anywhere=anywhere, progress=True,
                                  hold_openings=hold_openings)
    if frames.shape[2:] != tuple(world.frame_shape):
        raise ValueError(f"{starts}: recordings are {frames.shape[2:]} frames, this world dreams {world.frame_shape}")
    return frames, actions


def inventory_ledger_for(world, n: int, keep_inventory: bool | None, keep_terrain: bool | None = False,
                         creature_attacks: bool = False, keep_daylight: bool | None = False):
    """An `InventoryLedger` for `n` dreams of a Crafter world (keep_inventory None or True), or None
    (keep_inventory False, or None for a world of another game). True on a world that is not
    Crafter's is a ValueError. keep_terrain (None: with the ledger) also has it keep the view's
    terrain by the game's rules (`TerrainKeeper`); True without a ledger is a ValueError, as is
    creature_attacks (zombies, arrows and lava hurt by the game's rules) without one.
    keep_daylight (None: on for Crafter worlds) has the ledger run the day and night by the game's
    clock (`CrafterClock`); `dream_overlay` gives the clock alone where there is no ledger."""
    crafter_world = tuple(world.action_nvec) == (17,)
    daylight = keeps_daylight(world, keep_daylight)
    h, w = world.frame_shape[:2]
    if keep_inventory is False or (keep_inventory is None and not crafter_world):
        if keep_terrain or creature_attacks:
            raise ValueError("keep_terrain and creature_attacks work through the inventory ledger: they need "
                             "keep_inventory on a Crafter world")
        return None
    if not crafter_world:
        raise ValueError(f"keep_inventory needs a Crafter world (Discrete(17) actions), this one has {world.action_nvec}")
    from worldenv.games.crafter.ledger import InventoryLedger

    return InventoryLedger(n, size=(w, h), keep_terrain=keep_terrain is not False, attacks=creature_attacks,
                           keep_daylight=daylight)


def keeps_daylight(world, keep_daylight: bool | None) -> bool:
    """Whether dreams of `world` follow Crafter's clock: keep_daylight True (a ValueError on a world
    of another game), or None on a Crafter world."""
    if keep_daylight is False:
        return False
    crafter_world = tuple(world.action_nvec) == (17,)
    if keep_daylight and not crafter_world:
        raise ValueError(f"keep_daylight needs a Crafter world (Discrete(17) actions), this one has {world.action_nvec}")
    return keep_daylight is True or (keep_daylight is None and crafter_world)


def dream_overlay(world, n: int, ledger, keep_daylight: bool | None = None):
    """What redraws a Crafter dream's frames (the `DreamRollout` overlay): the `ledger` where there
    is one (it runs the clock itself), else a `CrafterClock` alone where keep_daylight (None: on for
    Crafter worlds), else None."""
    if ledger is not None:
        return ledger
    if keeps_daylight(world, keep_daylight):
        from worldenv.games.crafter.daylight import CrafterClock

        h, w = world.frame_shape[:2]
        return CrafterClock(n, size=(w, h))
    return None


def game_rules(keep_inventory: bool = True, keep_terrain: bool = True) -> dict:
    """The envs' keep_inventory / keep_terrain arguments for a command line's yes/no flags: yes
    means "on where the world is Crafter's" (None), no means off; the terrain needs the ledger."""
    return {"keep_inventory": None if keep_inventory else False,
            "keep_terrain": None if keep_inventory and keep_terrain else False}


def action_space_for(nvec: tuple[int, ...]) -> spaces.Space:
    """The world's own action space: Discrete for one part (Crafter), MultiDiscrete otherwise (MineRL)."""
    return spaces.Discrete(nvec[0]) if len(nvec) == 1 else spaces.MultiDiscrete(np.array(nvec))


def image_to_frame(image: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """A user start image (array or path; RGB, RGBA or gray; any size) -> (H, W, 3) uint8.

    Images of another size are resized with nearest-neighbour sampling (keeps pixel art crisp);
    RGBA drops alpha; gray is repeated to RGB. Anything else is a ValueError naming the problem.
    """
    from PIL import Image

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise ValueError(f"start image {path} does not exist")
        image = np.asarray(Image.open(path).convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise ValueError(f"start image must be finite numbers (uint8 0..255), got dtype {arr.dtype} with NaN/inf")
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"start image values must be in 0..255, got {arr.min()}..{arr.max()}")
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, -1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"start image must be (H, W, 3) RGB (or RGBA / gray), got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, -1)
    arr = arr[..., :3]
    h, w = shape[:2]
    if arr.shape[:2] != (h, w):
        arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.NEAREST))
    return np.ascontiguousarray(arr)


class DreamEnv(RendersFrames, gym.Env):
    """
    ## Description
    A Minecraft-style game that exists only inside a world model. Each step, a spacetime
    diffusion transformer (SpacetimeDiT) generates the next frame from the recent frames and your
    action, a few denoising steps against a KV cache of the last frames; a video VAE decodes it.
    Reward and termination come from the model's heads. The default world is the shipped Crafter
    world model (`worldenv/worlds/crafter72`, 72x72 frames), trained on recorded Crafter play.

    ## Action Space
    The world's own: Crafter `Discrete(17)` (crafter's action order: noop, move left/right/up/down,
    do, sleep, place stone/table/furnace/plant, make wood/stone/iron pickaxe, wood/stone/iron
    sword); MineRL worlds `MultiDiscrete` (23 buttons + 2 camera bins). Anything outside the space
    raises `ValueError` naming the space.

    ## Observation Space
    `Box(0, 255, (H, W, 3), uint8)`: the RGB frame at the world's size (72x72 for the shipped
    Crafter world, 64x64 for `worldenv/worlds/crafter`).

    ## Rewards
    Crafter's rule: +1 the first time in an episode that an achievement unlocks, plus the health
    change / 10. On Crafter worlds (`keep_inventory`, the default) the achievements come from
    the game's own rules applied to the dream (`InventoryLedger`: wood for a `do` at a tree, a
    pickaxe for a `make` with wood at a table, waking at full energy, ...), which also keeps the
    inventory and sleep that the frames show, and health: regeneration and starvation by the
    game's rules, less the damage the DiT draws (with `creature_attacks`, also the game's attacks
    of the creatures the DiT draws). Without it, both come from the
    heads (they name the achievement); worlds whose heads do not name achievements pay +1 for
    every predicted unlock.

    ## Starting State
    `reset()` starts from a real start clip drawn from the bank shipped with the model (the
    default; with `starts=RECORDINGS_DIR`, from `num_starts` clips taken at random points of those
    recordings' episodes), `reset(options={"image": array_or_path})` from a still image (resized with nearest
    sampling if needed), or `reset(options={"prompt": "..."})` from a caption on worlds trained
    with captions (the start clip is generated from the caption), or `reset(options={"video": frames,
    "actions": actions})` from a prompt video ((T, H, W, 3) uint8 at the world's size; the actions into
    its frames are optional): the DiT goes on from its last frames, and the game's rules remember
    all of it (on Crafter worlds the world seen, so a place the video showed is found as it was, and
    the clock). Deterministic for a given seed.

    ## Episode End
    Terminated when the termination head fires or, with `keep_inventory`, at health 0; truncated
    after `max_episode_steps`.

    ## Arguments
    `world` (folder with vae/dit/start_bank safetensors; None = shipped Crafter world),
    `steps` (denoising steps per frame, 1-4: the speed knob), `context` (frames in the KV cache),
    `device` ("cpu", "cuda", "auto"), `max_episode_steps` (10,000), `render_mode`
    ("rgb_array" or "human"), `bf16` (bfloat16 autocast), `context_sigma` (noise on cached
    frames against drift), `reground` (re-encode each dreamed frame from its pixels), `guidance`
    (action guidance scale) and `start_sigma` (the noise level each frame's view is drawn from,
    starting at the previous frame moved with the player; 1 = from pure noise); these four
    default to the settings stored with the world.
    `starts` (recordings folder for mid-episode start clips; None = the world's bank), `num_starts`,
    `start_anywhere` (False: the clips open the recorded episodes), `hold_openings` (with it, each
    opening is the episode's first frame held still, the state a new game starts in).
    `keep_inventory` (None: on for Crafter worlds): keep the inventory, health and sleep by
    the game's rules and draw them on every frame, rather than leaving them to the DiT (see Rewards).
    `keep_terrain` (None: with `keep_inventory`): put back the tiles the DiT changes against the
    game's rules (a tree that turned to grass, a cow that vanished; `crafter_terrain.py`).
    `creature_attacks` (False; needs the ledger): zombies next to the player, arrows flying in and
    lava hurt by the game's rules (the DiT seldom draws a hit; off by default, see README stop 26).
    `keep_daylight` (None: on for Crafter worlds): the day and night follow the game's clock; the
    DiT dreams the day look of every frame and it is shown darkened, with the game's grain
    (`crafter_daylight.py`; README, Results, stop 30).

    ## Info
    `step`, `unlock_prob`, `inventory` (read off the frame), `achievements` (name -> 1 if unlocked
    so far this episode, else 0; the real game's info counts repeats) and `unlocked` (the
    achievement this step unlocked, if any).

    ## Version History
    - v0: first release (Crafter world model, Discrete(17)).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(self, world: str | Path | None = None, steps: int = 2, context: int | None = None,
                 device: str = "cpu", max_episode_steps: int = 10_000, render_mode: str | None = None,
                 bf16: bool = True, context_sigma: float | None = None, reground: bool | None = None,
                 guidance: float | None = None, starts: str | Path | None = None, num_starts: int = 512,
                 start_anywhere: bool = True, hold_openings: bool = False,
                 start_sigma: float | None = None, keep_inventory: bool | None = None,
                 keep_terrain: bool | None = None, creature_attacks: bool = False, keep_daylight: bool | None = None, _world_model=None):
        from model.rollout import DreamRollout

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.device = resolve_device(device)
        self.world = _world_model or load_world(world, self.device)
        self.ledger = inventory_ledger_for(self.world, 1, keep_inventory, keep_terrain, creature_attacks, keep_daylight)
        self.overlay = dream_overlay(self.world, 1, self.ledger, keep_daylight)  # the ledger, or the clock alone
        self.rollout = DreamRollout(self.world, batch=1, steps=steps, context=context, bf16=bf16,
                                    context_sigma=context_sigma, reground=reground, guidance=guidance,
                                    start_sigma=start_sigma, device=self.device,
                                    overlay=self.overlay)
        self.start_frames, self.start_actions = load_start_clips(self.world, starts, num_starts, anywhere=start_anywhere,
                                                                 hold_openings=hold_openings)
        self.rewarder = FirstUnlockRewards(1, self.ledger.achievements if self.ledger else self.world.achievements)
        self.observation_space = spaces.Box(0, 255, self.world.frame_shape, np.uint8)
        self.action_space = action_space_for(self.world.action_nvec)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self._obs: np.ndarray | None = None
        self._t = 0
        self._window = FrameWindow("SoraWorld dream")
        self._parser = None

    # ------------------------------------------------------------------ start states
    def _start_clip(self, options: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """(T, H, W, 3) frames and (T, A) actions into them, T >= the DiT's context (a prompt video
        may be longer: the DiT sees its last frames, the game's rules all of it)."""
        options = options or {}
        unknown = set(options) - {"image", "prompt", "start", "video", "actions"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'image', 'prompt', 'start' or 'video' "
                             "(with 'actions')")
        if "actions" in options and "video" not in options:
            raise ValueError("reset option 'actions' goes with 'video': the actions into the prompt video's frames")
        if "video" in options:
            return self._prompt_video(options["video"], options.get("actions"))
        if "prompt" in options:
            if not self.world.dit.cfg.caption_dim:
                raise ValueError(
                    "this world was trained without captions, so it cannot start from a prompt; "
                    "use options={'image': ...} or the default start bank"
                )
            from model.generate import text_to_video

            # The start clip is dreamed from the caption (all frames denoised together), then the
            # episode goes on with the causal rollout like any other start.
            k = self.rollout.context
            seed = int(self.np_random.integers(2**31 - 1))
            frames = text_to_video(self.world, str(options["prompt"]), k, steps=8, seed=seed)
            return frames, np.full((k, len(self.world.action_nvec)), -1, np.int64)
        if "image" in options:
            frame = image_to_frame(options["image"], self.world.frame_shape)
            k = self.rollout.context
            # A still image as a clip of the player standing still (noop) fills the context.
            actions = np.zeros((k, len(self.world.action_nvec)), np.int64)
            actions[0] = -1
            return np.repeat(frame[None], k, 0), actions
        bank = self.start_frames
        i = int(options.get("start", self.np_random.integers(len(bank))))
        if not 0 <= i < len(bank):
            raise ValueError(f"start clip index {i} outside the bank of {len(bank)}")
        return bank[i], self.start_actions[i]

    def _prompt_video(self, video, actions) -> tuple[np.ndarray, np.ndarray]:
        """A user's prompt video (T, H, W, 3) uint8 at the world's frame size and the actions into its
        frames ((T,) or (T, A) ints, -1 for none; None: none known) -> (frames, actions (T, A)). A
        video shorter than the DiT's context starts as a still image does: its first frame repeated,
        the player standing still."""
        frames, shape = np.asarray(video), self.world.frame_shape
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != shape or len(frames) < 1:
            raise ValueError(f"a prompt video must be (T, {shape[0]}, {shape[1]}, 3) uint8 frames at this world's "
                             f"size, got {frames.dtype} of shape {frames.shape}")
        nvec, T = np.asarray(self.world.action_nvec), len(frames)
        acts = np.full((T, len(nvec)), -1, np.int64) if actions is None else np.asarray(actions)
        if acts.ndim == 1 and len(nvec) == 1:
            acts = acts[:, None]
        if acts.shape != (T, len(nvec)) or not np.issubdtype(acts.dtype, np.integer):
            raise ValueError(f"prompt actions must be {T} integer actions of {len(nvec)} part(s), the action into each "
                             f"frame (-1: none), got {acts.dtype} of shape {acts.shape}")
        if ((acts < -1) | (acts >= nvec)).any():
            raise ValueError(f"prompt actions out of range: part i must be -1 (none) or in [0, {nvec.tolist()}[i])")
        k = self.rollout.context
        if T < k:
            still = np.zeros((k - T, len(nvec)), np.int64)
            still[0] = -1
            frames = np.concatenate([np.repeat(frames[:1], k - T, 0), frames])
            acts = np.concatenate([still, acts.astype(np.int64)])
            acts[k - T] = np.where(acts[k - T] < 0, 0, acts[k - T])  # after the still frames, the first is no move
        return frames, acts.astype(np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        frames, actions = self._start_clip(options)
        seed = int(self.np_random.integers(2**31 - 1))
        self.rollout.seed(seed)
        self.rollout.reset(frames[None], actions[None])
        self._obs = frames[-1].copy()
        if self.overlay is not None:
            self.overlay.reset([0], frames[None], actions[None], [seed])
        self._t = 0
        self.rewarder.reset()
        if self.render_mode == "human":
            self.render()
        return self._obs.copy(), self._info(None)

    # ------------------------------------------------------------------ stepping
    def _check_action(self, action) -> np.ndarray:
        if not self.action_space.contains(action if not isinstance(action, list) else np.array(action)):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        return np.asarray(action, np.int64).reshape(1, -1)

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        r = self.rollout.step(a)
        led = self.ledger
        rewards, self._new = (self.rewarder.rewards(r, led.events, led.health_change) if led is not None
                              else self.rewarder.rewards(r))
        self._obs = r.frames[0]
        self._t += 1
        terminated = bool(r.terminated[0]) or (led is not None and bool(led.dead[0]))
        truncated = self._t >= self.max_episode_steps
        if self.render_mode == "human":
            self.render()
        return self._obs.copy(), float(rewards[0]), terminated, truncated, self._info(r)

    def _info(self, r) -> dict:
        info: dict[str, Any] = {"step": self._t}
        if r is not None:
            info["unlock_prob"] = float(r.unlock_prob[0])
            if self._new[0] is not None:
                info["unlocked"] = self._new[0]
        if self.rewarder.names:
            # Same shape as the real game's info: name -> count (the dream knows 0 or 1, first unlocks).
            info["achievements"] = {n: int(n in self.rewarder.unlocked[0]) for n in self.rewarder.names}
        if self.world.action_nvec == (17,):
            info["inventory"] = self.predicted_inventory(self._obs)
        return info

    def predicted_inventory(self, frame: np.ndarray) -> dict[str, int]:
        """The inventory as the dream shows it (read from the frame with the Crafter parser)."""
        from worldenv.games.crafter.parse import INVENTORY_ITEMS, CrafterFrameParser

        if self._parser is None:
            h, w = frame.shape[:2]
            self._parser = CrafterFrameParser(size=(w, h))
        counts = self._parser.inventory(frame)
        return {k: int(v) for k, v in zip(INVENTORY_ITEMS, counts, strict=True)}
