"""Train the SpacetimeDiT world model on a latent cache (see model/latent_encoding.py).

    python scripts/train_world.py --latents data/game_latents --vae runs/vae/vae.safetensors \
        --recordings data/game --out runs/world --preset S --steps 20000
    python scripts/train_world.py --config configs/<world>/dit_1_base.toml   # a stage of a shipped world
    python scripts/train_world.py ... --resume                 # continue from <out>/last.safetensors
    python scripts/train_world.py ... --overwrite              # start again in an --out that holds a run
    python scripts/train_world.py ... --init runs/world/last.safetensors   # new run from trained weights

Several sizes (Sora-style native aspect ratios, one model): give several caches, e.g.
`--latents data/a_latents,data/b_latents --bucket-weights 0.8,0.2`. Each step draws one cache (a
size bucket) and a batch of windows from it; RoPE makes any token grid valid.
    torchrun --nproc_per_node=2 scripts/train_world.py ...     # DDP (gloo on CPU, nccl on GPU)

`--view-moves game` asks the recordings' game (its plugin, found by the "game" of the recordings'
index.json) which actions move the view and which tile rows the moving view covers; the script
passes the plugins in (`games`): this package imports no game.

Writes `<out>/last.safetensors` (weights + optimizer + step; atomically every --ckpt-every steps),
`<out>/log.csv`, and at the end (and every --export-every steps) a playable world folder
`<out>/world/` = vae.safetensors + dit.safetensors (bf16) + start_bank.safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from model.cli import command_line, parse_nested_config
from model.data import start_clips
from model.diffusion import FlowConfig, flow_loss
from model.dit import SpacetimeDiT, preset
from model.latent_cache import (
    LatentCache,
    attempt_frames,
    episode_records,
    item_gain_frames,
    refused_move_frames,
)
from model.text import FactVocabulary
from model.training import (
    CsvLogger,
    autocast,
    bucket_probabilities,
    check_run_folder,
    cleanup_distributed,
    cosine_lr,
    model_weights,
    pick_bucket,
    resume_settings,
    resume_state,
    run_end,
    save_training_state,
    setup_distributed,
    split_sources,
    wrap_for_training,
)
from model.vae import SPATIAL_FACTOR

KIND = "SpacetimeDiT"
RUN_FILES = ("last.safetensors", "log.csv", "world")  # what a run writes in --out
EVENT_FRAMES = ("unlocks", "gains", "attempts")


class GameFacts(Protocol):
    """What world training asks of a game (a `worldenv.games.plugin.Game` has it)."""

    name: str

    def view_moves(self) -> list[tuple[int, int, int]]:
        """(action, dx, dy) of each action that moves the view by whole latent cells."""

    def view_rows(self, view: tuple[int, int]) -> int | None:
        """Of a recording's tile view (cols, rows), the rows the moving view covers (None: all)."""

    def caption_vocabulary(self) -> FactVocabulary | None:
        """The facts its captions state (None: it writes no captions)."""


Games = Callable[[str], GameFacts]  # a game's name -> its plugin (`worldenv.games.get_game`)


@dataclass
class TrainWorldConfig:
    """Training run of the world model; every field is a flag and a key of a `--config` recipe (the
    `flow` fields in its [flow] table)."""

    latents: str = ""  # one cache, or several (comma-separated) of other sizes
    bucket_weights: str = ""  # comma-separated share of steps per cache; empty = by frame count
    vae: str = ""  # the VAE the caches were encoded with (it goes into the exported world)
    recordings: str = ""  # for the start-frame bank of the exported world
    out: str = "runs/world"
    preset: str = "S"
    window: int = 8
    patch: int = 2
    prev_frame: bool = False  # DiTConfig.prev_frame: tokens also embed the previous frame (frame stacking)
    # DiTConfig.prev_prior (needs --prev-frame): std of a frame's latent change from the previous frame;
    # > 0 centres the denoiser on the previous frame (model/prev_prior.py); 0 = off
    prev_prior: float = 0.0
    # DiTConfig.view_moves (needs --prev-frame): "game" (the moves the recordings' game declares, one
    # latent cell each, which needs tile-aligned frames: one tile = one latent cell) or
    # "action:dx:dy,..."; empty = none
    view_moves: str = ""
    # DiTConfig.view_rows: latent rows the moving view covers; -1 = auto (with "game" the rows its
    # tile view moves, e.g. above an inventory, read from the recordings; otherwise all), 0 = all
    view_rows: int = -1
    steps: int = 20_000
    stop_at: int = 0  # end this run at this step (0 = at --steps); the lr schedule still spans --steps
    batch_size: int = 32
    lr: float = 3e-4
    warmup: int = 500
    weight_decay: float = 0.01
    ckpt_every: int = 250
    export_every: int = 2000
    log_every: int = 25
    start_bank: int = 64  # start clips in the exported world
    captions: bool = True  # condition on caption fact tokens (model/text.py)
    caption_dropout: float = 0.3  # share of batches without captions (the rollout's condition)
    # How the exported world is dreamed (stored in it; DreamRollout's defaults): keep the cached
    # frames' noise within the training range (--context-noise).
    rollout_context_sigma: float = 0.15
    rollout_reground: bool = True
    rollout_guidance: float = 1.0  # action guidance; pick it with evaluate.py --guidance, set it with ship_world.py
    seed: int = 0
    bf16: bool = True
    compile: bool = False
    device: str = "auto"
    threads: int = 0
    resume: bool = False  # go on with the run in --out (its last.safetensors)
    overwrite: bool = False  # start again in an --out that holds a run (without it, such a folder is refused)
    init: str = ""  # start from these DiT weights (a training state or a world's dit.safetensors)
    progress: bool = True
    # which frames --event-weight weights: "unlocks" (reward >= 0.5), "gains" (also every
    # inventory increase but health, read from the recordings' jsonl: e.g. each sapling, not only the
    # first) or "attempts" (gains, and every frame after an action that is neither the noop (0) nor a
    # view move, succeeded or not: a model must learn when "make" fails as well as what it makes)
    event_frames: str = "unlocks"
    # with --view-moves: moves the game refused (recordings' player_pos) get the unmoved previous
    # frame as their moved input, as a world with a MoveGate (model/move_gate_training.py) dreams them
    refused_stay: bool = False
    flow: FlowConfig = field(default_factory=FlowConfig)


class WorldLoss(torch.nn.Module):
    """The DiT with its loss as forward(), so DDP can wrap it."""

    def __init__(self, dit: SpacetimeDiT, flow: FlowConfig):
        super().__init__()
        self.dit, self.flow = dit, flow

    def forward(self, z, actions, rewards, dones, captions=None, events=None, refused=None, stay=None):
        return flow_loss(self.dit, z, actions, rewards, dones, self.flow, captions, events, refused, stay)


def batch_from_cache(cache: LatentCache, prev: torch.Tensor, rng, n: int, window: int, device,
                     events: torch.Tensor | None = None, refused: torch.Tensor | None = None):
    """A batch of `n` windows: start indices, latents (n, window, c, h, w), the actions that led to
    each frame, rewards, dones, the event flags and the refused-move flags (each None when not given)."""
    starts = torch.from_numpy(cache.sample_windows(rng, n, window))
    idx = starts[:, None] + torch.arange(window)[None]
    z = cache.latents[idx].float().to(device)
    ev = None if events is None else events[idx].to(device)
    ref = None if refused is None else refused[idx].to(device)
    return starts, z, prev[idx].to(device), cache.rewards[idx].to(device), cache.dones[idx].bool().to(device), ev, ref


@dataclass
class SizeBucket:
    """One latent cache (all frames of one size) with what training reads from it."""

    path: str
    cache: LatentCache
    prev: torch.Tensor  # action that led to each frame
    cap_ids: torch.Tensor | None  # caption fact ids per frame
    events: torch.Tensor | None = None  # (N,) bool frames the event weight applies to; None = unlocks
    refused: torch.Tensor | None = None  # (N,) bool frames after a refused move (--refused-weight)


def parse_view_moves(spec: str, game: GameFacts | None = None) -> tuple[tuple[int, int, int], ...]:
    """--view-moves: "" (none), "game" (`game`'s view moves, by action), or "action:dx:dy,..." ->
    DiTConfig.view_moves."""
    if not spec:
        return ()
    if spec == "game":
        if game is None:
            raise ValueError("--view-moves game asks the recordings' game for its moves, and no game plugins were "
                             "given: run scripts/train_world.py (it passes them), or name the moves as "
                             "'action:dx:dy,...' and the moving rows with --view-rows")
        return tuple(sorted((int(a), int(dx), int(dy)) for a, dx, dy in game.view_moves()))
    try:
        moves = tuple(tuple(int(x) for x in part.split(":", 2)) for part in spec.split(","))
    except ValueError:
        moves = ()
    if not moves or any(len(m) != 3 for m in moves):
        raise ValueError(f"--view-moves must be 'game' or 'action:dx:dy,...', got {spec!r}")
    return moves


def recordings_game(paths: list[str], games: Games | None) -> GameFacts:
    """The game plugin of the recordings the caches `paths` were encoded from (they must agree)."""
    from model.recordings import RecordingError, recorded_game

    names = {}
    for path in paths:
        data = LatentCache.read_meta(path).get("data", "")
        try:
            names[path] = recorded_game(data)
        except (OSError, RecordingError) as e:
            raise ValueError(f"{path}: --view-moves game and captions read the game from the recordings the cache "
                             f"was encoded from ({data!r}): {e}") from None
    if len(set(names.values())) > 1:
        raise ValueError(f"the caches come from recordings of different games: {names}")
    name = next(iter(names.values()))
    if games is None:
        raise ValueError("--view-moves game and captions need the game plugins: run scripts/train_world.py "
                         "(it passes them), or give --view-moves action:dx:dy,... and --no-captions")
    try:
        return games(name)
    except ValueError as e:
        raise ValueError(f"the recordings' game {name!r} has no plugin ({e})") from None


def load_buckets(cfg: TrainWorldConfig, view_moves: tuple[tuple[int, int, int], ...] | None = None,
                 vocab: FactVocabulary | None = None) -> tuple[list[SizeBucket], np.ndarray]:
    """The caches named by --latents and the share of steps each gets; checks they agree.
    `view_moves`: the resolved DiTConfig.view_moves (default: parsed from an explicit --view-moves);
    `vocab`: the game's caption vocabulary, which turns each frame's caption into fact ids."""
    paths = split_sources(cfg.latents, "--latents")
    if view_moves is None:
        view_moves = parse_view_moves(cfg.view_moves)
    moves = [m[0] for m in view_moves]  # the move actions
    buckets = []
    for path in paths:
        cache = LatentCache.load(path)
        cap_ids = None
        if cfg.captions and vocab is not None:
            if len(cache.captions) != len(cache):
                raise ValueError(f"{path}: captions.jsonl has {len(cache.captions)} lines for {len(cache)} frames")
            cap_ids = vocab.ids(cache.captions, 16)  # computed once; a window's first frame conditions it
        gains_wanted = cfg.flow.event_weight != 1 and cfg.event_frames in ("gains", "attempts")
        refused_wanted = cfg.flow.refused_weight != 1 or cfg.refused_stay
        records = None
        if gains_wanted or refused_wanted:
            # the jsonl beside the recordings the cache was encoded from, read once for both flags
            try:
                records = episode_records(cache, prefix=True)
            except ValueError as e:
                flags = f"--event-frames {cfg.event_frames}" if gains_wanted else "--refused-weight / --refused-stay"
                raise ValueError(f"{path}: {flags}: {e}") from None
        events = None
        if gains_wanted:  # an item gain or an unlock
            events = torch.from_numpy(item_gain_frames(cache, records=records)) | (cache.rewards >= 0.5)
            if cfg.event_frames == "attempts":
                # the noop (action 0) and the moves are quiet; every other action is an attempt
                events |= torch.from_numpy(attempt_frames(cache, [0] + moves))
        refused = None
        if refused_wanted:
            refused = torch.from_numpy(refused_move_frames(cache, moves, records=records))
        buckets.append(SizeBucket(path, cache, cache.actions_into_frames(), cap_ids, events, refused))
    first = buckets[0].cache
    for b in buckets[1:]:
        if b.cache.latents.shape[1] != first.latents.shape[1]:
            raise ValueError(f"{b.path}: {b.cache.latents.shape[1]} latent channels, {paths[0]} has "
                             f"{first.latents.shape[1]}; all caches must come from one VAE")
        if list(b.cache.meta["action_nvec"]) != list(first.meta["action_nvec"]):
            raise ValueError(f"{b.path}: action parts {b.cache.meta['action_nvec']} differ from "
                             f"{paths[0]}'s {first.meta['action_nvec']}")
    return buckets, bucket_probabilities(cfg.bucket_weights, [len(b.cache) for b in buckets])


def init_weights(dit: SpacetimeDiT, path: str) -> None:
    """Copy trained weights into `dit`: from a training state (<out>/last.safetensors) or a DiT
    checkpoint (a world's dit.safetensors). Shapes must match; the window may differ (RoPE). A model
    with `prev_frame` (or `view_moves`) can start from one without: its previous-frame (moved-frame)
    input starts at zero. A world whose heads name achievements gives its three base heads."""
    from model.checkpoint import CheckpointError, load_checkpoint, load_state_strict

    try:
        weights = model_weights(load_checkpoint(path, f"{KIND}/train")[0])
    except CheckpointError as train_error:
        try:
            tensors, _ = load_checkpoint(path, KIND)
        except CheckpointError:
            raise train_error from None
        weights = tensors
    if "outcome_embed.weight" in weights:
        raise CheckpointError(f"{path}: a DiT with outcome tokens, which were removed; start from a DiT without "
                              "them (or use an earlier SoraWorld version)")
    weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
    head = "heads_mlp.3"  # the last heads layer: unlock, rest of reward, termination, then names
    have, want = weights.get(f"{head}.weight"), dit.cfg.achievements + 3
    if have is not None and have.shape[0] > want == 3:
        # a shipped world whose heads also name achievements (model/heads_training.py): this run
        # trains the three base heads; heads training names them again afterwards
        weights[f"{head}.weight"], weights[f"{head}.bias"] = have[:3], weights[f"{head}.bias"][:3]
    for name in ("prev_in", "moved_in"):
        if hasattr(dit, name) and f"{name}.weight" not in weights:
            # weights of a model without this previous-frame input: it starts at zero (the same model)
            weights.update({f"{name}.{k}": v for k, v in getattr(dit, name).state_dict().items()})
    load_state_strict(dit, weights, path)


def check_tile_aligned(buckets: list[SizeBucket], view_rows: int = -1, game: GameFacts | None = None) -> int:
    """--view-moves game shifts by one latent cell per step: only right where one game tile is one
    latent cell (e.g. 72x72 frames of a 9x9 tile view), so other caches are refused by name.
    Returns the latent rows of the moving view (`game.view_rows` of the recordings' tile view: e.g.
    above an inventory, which does not move; 0 = all), or `view_rows` when that is given (>= 0)."""
    from model.recordings import RecordingError, recorded_view

    rows = set()
    for b in buckets:
        fw, fh = b.cache.meta["frame_size"]
        lh, lw = b.cache.latents.shape[-2:]
        try:
            vw, vh = recorded_view(b.cache.meta["data"])
        except (OSError, RecordingError) as e:
            raise ValueError(f"{b.path}: --view-moves game needs the recordings it was encoded from "
                             f"to read the tile view: {e}") from None
        if (fw / vw, fh / vh) != (fw / lw, fh / lh):
            raise ValueError(f"{b.path}: a tile is {fw / vw:.3g}x{fh / vh:.3g} px ({fw}x{fh} frames, {vw}x{vh} tiles) "
                             f"but a latent cell is {fw / lw:.3g}x{fh / lh:.3g} px, so a step is not a one-cell "
                             f"shift; --view-moves game needs tile-aligned frames (e.g. --size 72 72 for "
                             f"a 9x9 view)")
        moving = game.view_rows((vw, vh)) if game is not None else None
        rows.add(0 if moving is None else int(moving))
    if view_rows >= 0:
        return view_rows
    if len(rows) > 1:
        raise ValueError(f"the caches' tile views have different moving-view heights {sorted(rows)}: "
                         f"--view-moves game needs one (pass --view-rows to choose)")
    return rows.pop()


def exported_game(recordings: str, games: Games | None) -> str | None:
    """The name of the game an exported world dreams (its meta "game"): the recordings' game where
    `games` knows it, else None (the world then names no game)."""
    from model.recordings import RecordingError, recorded_game

    if games is None:
        return None
    try:
        name = recorded_game(recordings)
        games(name)
    except (OSError, ValueError, RecordingError):
        return None
    return name


def train(cfg: TrainWorldConfig, games: Games | None = None) -> Path:
    """Run the training `cfg` describes; `games` (a game's name -> its plugin) answers
    `--view-moves game`. Returns the exported world folder."""
    from model.world_export import export_world, exported_step

    for name in ("latents", "vae", "recordings"):
        if not getattr(cfg, name).strip(", "):
            raise SystemExit(f"error: give --{name} (or a --config recipe that sets it)")
    paths = split_sources(cfg.latents, "--latents")
    game = recordings_game(paths, games) if cfg.view_moves == "game" or cfg.captions else None
    view_moves = parse_view_moves(cfg.view_moves, game if cfg.view_moves == "game" else None)
    vocab = None
    if cfg.captions:
        vocab = game.caption_vocabulary()
        if vocab is None:
            raise SystemExit(f"error: the recordings' game {game.name!r} writes no captions: train with --no-captions")
    check_run_folder(cfg.out, cfg.resume, cfg.overwrite, RUN_FILES, "a world training run")
    d = setup_distributed(cfg.device, cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    buckets, bucket_p = load_buckets(cfg, view_moves, vocab)
    view_rows = max(cfg.view_rows, 0)
    if cfg.view_moves == "game":
        view_rows = check_tile_aligned(buckets, cfg.view_rows, game)
    c = buckets[0].cache.latents.shape[1]
    nvec = tuple(buckets[0].cache.meta["action_nvec"])
    text = {"caption_dim": len(vocab), "max_caption_tokens": 16} if cfg.captions else {}
    dit_cfg = preset(cfg.preset, latent_channels=c, patch=cfg.patch, window=cfg.window, action_nvec=nvec,
                     prev_frame=cfg.prev_frame, prev_prior=cfg.prev_prior, view_moves=view_moves,
                     view_rows=view_rows, **text)
    dit = SpacetimeDiT(dit_cfg)
    if cfg.init and not (cfg.resume and (out / "last.safetensors").exists()):
        init_weights(dit, cfg.init)
        if d.main:
            print(f"initialised from {cfg.init}")
    dit = dit.to(d.device)
    if d.main:
        n_params = sum(p.numel() for p in dit.parameters())
        sizes = ", ".join(f"{b.path} {len(b.cache)} frames {tuple(b.cache.latents.shape[1:])} p={p:.2f}"
                          for b, p in zip(buckets, bucket_p, strict=True))
        print(f"SpacetimeDiT-{cfg.preset}: {n_params / 1e6:.1f}M params; caches: {sizes}")
    decay = [p for p in dit.parameters() if p.ndim >= 2]
    no_decay = [p for p in dit.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99))
    state_path = out / "last.safetensors"
    step = resume_state(state_path, dit, opt, KIND, cfg.resume, d.main, same=resume_settings(cfg))
    rng = np.random.default_rng([cfg.seed, d.rank, step])
    # noise levels, noise and dropout draws continue from the step, not from step 0 again
    torch.manual_seed(int(np.random.SeedSequence([cfg.seed, d.rank, step]).generate_state(1)[0]))
    model = wrap_for_training(WorldLoss(dit, cfg.flow), d, cfg.compile)
    bank, game_name = None, None
    if d.main:
        # at the first cache's frame size (its latents' cells times the VAE's factor), which may
        # be a resize of the recordings' (a VAE trained with --size)
        lh, lw = buckets[0].cache.latents.shape[-2:]
        bank = start_clips(cfg.recordings, cfg.start_bank, cfg.window - 1, cfg.seed,
                           size=(int(lw) * SPATIAL_FACTOR, int(lh) * SPATIAL_FACTOR))
        game_name = exported_game(cfg.recordings, games)
    log = CsvLogger(out / "log.csv", enabled=d.main)
    end = run_end(cfg.steps, cfg.stop_at)
    bar = tqdm(total=end, initial=step, desc="train world", disable=not (cfg.progress and d.main))
    per_rank = max(1, cfg.batch_size // d.world)
    while step < end:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps)
        bucket = buckets[pick_bucket(cfg.seed, step, bucket_p)]
        starts, z, actions, rewards, dones, events, refused = batch_from_cache(
            bucket.cache, bucket.prev, rng, per_rank, cfg.window, d.device, bucket.events, bucket.refused)
        captions = None
        if cfg.captions and rng.random() >= cfg.caption_dropout:
            captions = vocab.one_hot(bucket.cap_ids[starts]).to(d.device)
        weighted = refused if cfg.flow.refused_weight != 1 else None
        stay = refused if cfg.refused_stay else None
        with autocast(d.device, cfg.bf16):
            loss, stats = model(z, actions, rewards, dones, captions, events, weighted, stay)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == end:
            bar.set_postfix(loss=f"{stats['loss']:.4f}", flow=f"{stats['flow']:.4f}")
            log.log(step=step, lr=opt.param_groups[0]["lr"], gnorm=float(gnorm), **stats)
        if d.main and (step % cfg.ckpt_every == 0 or step == end):
            save_training_state(state_path, dit, opt, step, KIND, dit_cfg, cfg)
        if d.main and (step % cfg.export_every == 0 or step == end):
            export_world(dit, cfg, step, bank, game_name, vocab)
    bar.close()
    world = out / "world"
    if d.main:
        if exported_step(world) != step:
            # resumed at its last step (killed between its final checkpoint and the export): the
            # loop ran no step, so the world of this state is exported here
            print(f"{world} does not hold step {step}: exporting it")
            export_world(dit, cfg, step, bank, game_name, vocab)
        print(f"world model: {world} (step {step})")
    cleanup_distributed()
    return world


def parse_args(argv=None) -> TrainWorldConfig:
    cfg = parse_nested_config(__doc__, TrainWorldConfig, "flow", FlowConfig, argv)
    if cfg.event_frames not in EVENT_FRAMES:
        raise SystemExit(f"error: --event-frames must be 'unlocks', 'gains' or 'attempts', got {cfg.event_frames!r}")
    if cfg.event_frames == "attempts" and not cfg.view_moves:
        raise SystemExit("error: --event-frames attempts needs --view-moves (it names the moves that are not attempts)")
    if cfg.event_frames != "unlocks" and cfg.flow.event_weight == 1:
        print(f"note: --event-frames {cfg.event_frames} does nothing without --event-weight (it is 1)")
    if not 0.0 <= cfg.rollout_context_sigma <= cfg.flow.context_noise:
        raise SystemExit(f"error: --rollout-context-sigma {cfg.rollout_context_sigma} must be in "
                         f"[0, --context-noise {cfg.flow.context_noise}]: the model never saw noisier context")
    for name in ("event_weight", "refused_weight"):
        if getattr(cfg.flow, name) < 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 0 (1 = off), got {getattr(cfg.flow, name)}")
    if cfg.flow.refused_weight != 1 and not cfg.view_moves:
        raise SystemExit("error: --refused-weight needs --view-moves (it names the move actions)")
    if cfg.refused_stay and not cfg.view_moves:
        raise SystemExit("error: --refused-stay needs --view-moves (it keeps their moved input still)")
    if cfg.view_moves and not cfg.prev_frame:
        raise SystemExit("error: --view-moves moves the previous-frame input: add --prev-frame")
    if cfg.prev_prior < 0:
        raise SystemExit(f"error: --prev-prior is a std: it must be >= 0 (0 = off), got {cfg.prev_prior}")
    if cfg.prev_prior and not cfg.prev_frame:
        raise SystemExit("error: --prev-prior centres the denoiser on the previous frame: add --prev-frame")
    if cfg.view_rows < -1:
        raise SystemExit(f"error: --view-rows must be -1 (auto), 0 (all) or a row count, got {cfg.view_rows}")
    if cfg.view_rows > 0 and not cfg.view_moves:
        raise SystemExit("error: --view-rows says which rows --view-moves shifts: add --view-moves")
    if cfg.view_moves != "game":
        try:
            parse_view_moves(cfg.view_moves)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    return cfg


@command_line
def main(argv=None, games: Games | None = None) -> None:
    """The trainer's command line. `games` (the game plugins, `worldenv.games.get_game`) is passed by
    `worldenv.training_cli` (`scripts/train_world.py`, `soraworld-train-world`); without it
    `--view-moves game` and captions are errors that say so."""
    cfg = parse_args(argv)
    try:
        train(cfg, games)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
