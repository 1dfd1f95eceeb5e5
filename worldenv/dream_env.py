"""SoraWorld-v0: a game as the world model dreams it, with the Gymnasium API."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldenv.achievements import FirstUnlockRewards
from worldenv.start_states import image_to_frame, load_start_clips, prompt_video_clip, still_clip
from worldenv.window import FrameWindow, RendersFrames
from worldenv.worlds import load_world, make_rules, world_game

# torch threads for a dream at batch 1: with one other busy process on a 2-core machine a step took
# p50 835 ms with 2 threads against 41 ms with 1, and about the same on a quiet one (docs/results/bench.md).
# Batched dreams (DreamVectorEnv) leave torch's default: on a quiet machine batch 32 ran 295 env-steps/s
# on 2 threads against 207 on 1.
DEFAULT_THREADS = 1


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" where available, else "cpu"; a CUDA device without CUDA is a ValueError."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available (use 'cpu' or 'auto')")
    return device


def set_threads(threads: int | None) -> None:
    """Set torch's CPU threads (None or 0: leave torch's default)."""
    if threads is None or threads == 0:
        return
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: torch's default), got {threads!r}")
    import torch

    torch.set_num_threads(int(threads))


def check_settings(**settings) -> None:
    """Refuse float settings that are not finite numbers (None means the world's own setting)."""
    for name, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")


def action_space_for(nvec: tuple[int, ...]) -> spaces.Space:
    """A world's action space: Discrete for one part, MultiDiscrete for several."""
    return spaces.Discrete(nvec[0]) if len(nvec) == 1 else spaces.MultiDiscrete(np.array(nvec))


def dream_parts(world, n: int, rules, **rollout_kwargs):
    """(game, rules, rollout) for `n` dreams of a loaded world: the world's game plugin (or None),
    its `DreamRules` for `rules` ("game", "none" or names) and the `DreamRollout` that runs them."""
    from model.rollout import DreamRollout

    game = world_game(world)
    dream_rules = make_rules(world, n, rules)
    rollout = DreamRollout(world, batch=n, rules=dream_rules,
                           reward_step=game.reward_step() if game is not None else None, **rollout_kwargs)
    return game, dream_rules, rollout


class DreamEnv(RendersFrames, gym.Env):
    """
    ## Description
    A game that exists only inside a world model. Each step, a spacetime diffusion transformer
    (SpacetimeDiT) generates the next frame from the recent frames and your action, a few
    denoising steps against a KV cache of the last frames; a video VAE decodes it. Reward and
    termination come from the model's heads, or from the game's own rules where its plugin keeps
    them (`rules`). The default world is the shipped one (`worldenv/worlds/`, see `shipped_worlds`).

    ## Action Space
    The real game's own, from the world's action-token layout: `Discrete(n)` for one part,
    `MultiDiscrete` for several (e.g. MineRL's buttons and camera bins). Anything outside the
    space raises `ValueError` naming the space.

    ## Observation Space
    `Box(0, 255, (H, W, 3), uint8)`: the RGB frame at the world's size.

    ## Rewards
    +1 the first time in an episode that an achievement unlocks, plus the rest of the game's reward
    (the heads' regression, rounded to the game's reward grid). Where the game's rules keep the
    player's state (`rules`), the achievements and that rest come from the rules instead. Worlds
    whose heads do not name achievements pay +1 for every predicted unlock.

    ## Starting State
    `reset()` starts from a real start clip drawn from the bank shipped with the model (with
    `starts=RECORDINGS_DIR`, from `num_starts` clips taken at random points of those recordings'
    episodes); `reset(options={"image": array_or_path})` from a still image (resized with nearest
    sampling if needed); `reset(options={"prompt": "..."})` from a caption on worlds trained with
    captions; `reset(options={"video": frames, "actions": actions})` from a prompt video ((T, H, W,
    3) uint8 at the world's size; the actions into its frames are optional): the DiT goes on from
    its last frames, and the game's rules remember all of it; `reset(options={"start": i})` from
    clip i of the bank. Deterministic for a given seed.

    ## Episode End
    Terminated when the termination head fires or the game's rules end the episode; truncated
    after `max_episode_steps`.

    ## Arguments
    `world` (a shipped world's name or a folder with vae/dit/start_bank safetensors; None = the
    default world), `rules` ("game": the game's default dream rules; "none"; or a list of the
    game's rule names, see its plugin's `make_rules`), `steps` (denoising steps per frame, 1-4: the
    speed knob), `context` (frames in the KV cache), `device` ("cpu", "cuda", "auto"), `threads`
    (torch CPU threads, 1 by default: see `DEFAULT_THREADS`; 0 or None leaves torch's default; the
    setting is torch's, for the whole process),
    `max_episode_steps` (10,000), `render_mode` ("rgb_array" or "human"), `bf16` (bfloat16
    autocast), `context_sigma` (noise on cached frames against drift), `reground` (re-encode each
    dreamed frame from its pixels), `guidance` (action guidance scale) and `start_sigma` (the noise
    level each frame's view is drawn from, starting at the previous frame moved with the player;
    1 = from pure noise); these four default to the settings stored with the world. `starts`
    (recordings folder for mid-episode start clips; None = the world's bank), `num_starts`,
    `start_anywhere` (False: the clips open the recorded episodes), `hold_openings` (with it, each
    opening is the episode's first frame held still, the state a new game starts in).

    ## Info
    `step`, `unlock_prob`, `achievements` (name -> 1 if unlocked so far this episode, else 0),
    `unlocked` (the achievement this step unlocked, if any), and what the game's plugin reads off
    the frame (`Game.dream_info`, e.g. the inventory).

    ## Version History
    - v0: first release.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(self, world: str | Path | None = None, rules: str | Sequence[str] | None = "game", steps: int = 2,
                 context: int | None = None, device: str = "cpu", threads: int | None = DEFAULT_THREADS,
                 max_episode_steps: int = 10_000, render_mode: str | None = None, bf16: bool = True,
                 context_sigma: float | None = None, reground: bool | None = None, guidance: float | None = None,
                 starts: str | Path | None = None, num_starts: int = 512, start_anywhere: bool = True,
                 hold_openings: bool = False, start_sigma: float | None = None, _world_model=None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        check_settings(context_sigma=context_sigma, guidance=guidance, start_sigma=start_sigma)
        set_threads(threads)
        self.device = resolve_device(device)
        self.world = _world_model or load_world(world, self.device)
        self.game, self.rules, self.rollout = dream_parts(
            self.world, 1, rules, steps=steps, context=context, bf16=bf16, context_sigma=context_sigma,
            reground=reground, guidance=guidance, start_sigma=start_sigma, device=self.device)
        self.start_frames, self.start_actions = load_start_clips(self.world, starts, num_starts, anywhere=start_anywhere,
                                                                 hold_openings=hold_openings)
        paid = self.rules.achievements if self.rules is not None and self.rules.achievements is not None else None
        self.rewarder = FirstUnlockRewards(1, paid if paid is not None else self.world.achievements)
        self.observation_space = spaces.Box(0, 255, self.world.frame_shape, np.uint8)
        self.action_space = action_space_for(self.world.action_nvec)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self._obs: np.ndarray | None = None
        self._t = 0
        self._window = FrameWindow("SoraWorld dream")

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
        k, parts = self.rollout.context, len(self.world.action_nvec)
        if "video" in options:
            return prompt_video_clip(options["video"], options.get("actions"), self.world.frame_shape,
                                     self.world.action_nvec, k, self._noop())
        if "prompt" in options:
            if not self.world.dit.cfg.caption_dim:
                raise ValueError(
                    "this world was trained without captions, so it cannot start from a prompt; "
                    "use options={'image': ...} or the default start bank"
                )
            from model.generate import text_to_video

            # The start clip is dreamed from the caption (all frames denoised together), then the
            # episode goes on with the causal rollout like any other start.
            seed = int(self.np_random.integers(2**31 - 1))
            frames = text_to_video(self.world, str(options["prompt"]), k, steps=8, seed=seed)
            return frames, np.full((k, parts), -1, np.int64)
        if "image" in options:
            return still_clip(image_to_frame(options["image"], self.world.frame_shape), k, self._noop())
        bank = self.start_frames
        i = options.get("start")
        if i is None:
            i = int(self.np_random.integers(len(bank)))
        elif isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"reset option 'start' must be an integer index into the start bank, got {i!r}")
        if not 0 <= i < len(bank):
            raise ValueError(f"start clip index {i} outside the bank of {len(bank)}")
        return bank[i], self.start_actions[i]

    def _noop(self) -> np.ndarray:
        """The game's do-nothing action (all zeros for a world that names no game)."""
        if self.game is not None:
            return self.game.noop_action()
        return np.zeros(len(self.world.action_nvec), np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        frames, actions = self._start_clip(options)
        seed = int(self.np_random.integers(2**31 - 1))
        self.rollout.seed(seed)
        self.rollout.reset(frames[None], actions[None])
        self._obs = frames[-1].copy()
        if self.rules is not None:
            self.rules.reset([0], frames[None], actions[None], [seed])
        self._t = 0
        self.rewarder.reset()
        if self.render_mode == "human":
            self.render()
        return self._obs.copy(), self._info(None)

    # ------------------------------------------------------------------ stepping
    def _check_action(self, action) -> np.ndarray:
        if isinstance(action, (bool, np.bool_)) or (isinstance(action, np.ndarray) and action.dtype == bool):
            raise ValueError(f"action {action!r} is a boolean, not an action of {self.action_space}")
        if not self.action_space.contains(action if not isinstance(action, list) else np.array(action)):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        return np.asarray(action, np.int64).reshape(1, -1)

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        r = self.rollout.step(a)
        rules = self.rules
        if rules is not None and rules.events is not None:
            rewards, self._new = self.rewarder.rewards(r, rules.events, rules.health_reward)
        else:
            rewards, self._new = self.rewarder.rewards(r)
        self._obs = r.frames[0]
        self._t += 1
        terminated = bool(r.terminated[0]) or (rules is not None and rules.dead is not None and bool(rules.dead[0]))
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
        if self.game is not None:
            info.update(self.game.dream_info(self._obs))
        return info
