"""Train the SpacetimeDiT world model on a latent cache (see scripts/encode_latents.py).

    python scripts/train_world.py --latents data/crafter_latents --vae runs/vae_crafter/vae.safetensors \
        --recordings data/crafter --out runs/world --preset S --steps 20000
    python scripts/train_world.py ... --resume                 # continue from <out>/last.safetensors
    python scripts/train_world.py ... --init runs/world/last.safetensors   # new run from trained weights

Several sizes (Sora-style native aspect ratios, one model): give several caches, e.g.
`--latents data/crafter_latents,data/crafter_wide_latents --bucket-weights 0.8,0.2`. Each step
draws one cache (a size bucket) and a batch of windows from it; RoPE makes any token grid valid.
    torchrun --nproc_per_node=2 scripts/train_world.py ...     # DDP (gloo on CPU, nccl on GPU)

Writes `<out>/last.safetensors` (weights + optimizer + step; atomically every --ckpt-every steps),
`<out>/log.csv`, and at the end (and every --export-every steps) a playable world folder
`<out>/world/` = vae.safetensors + dit.safetensors (bf16) + start_bank.safetensors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.cli import parse_nested_config  # noqa: E402
from model.data import start_clips  # noqa: E402
from model.diffusion import FlowConfig, flow_loss  # noqa: E402
from model.dit import SpacetimeDiT, preset  # noqa: E402
from model.latent_cache import (  # noqa: E402
    LatentCache,
    attempt_actions,
    attempt_frames,
    episode_records,
    item_gain_frames,
    outcome_labels,
    refused_move_frames,
    tile_maps,
)
from model.text import VOCAB, caption_ids, ids_to_tokens  # noqa: E402
from model.training import (  # noqa: E402
    CsvLogger,
    autocast,
    bucket_probabilities,
    cleanup_distributed,
    cosine_lr,
    model_weights,
    pick_bucket,
    resume_state,
    run_end,
    save_training_state,
    setup_distributed,
    split_sources,
    wrap_for_training,
)

KIND = "SpacetimeDiT"


@dataclass
class TrainWorldConfig:
    """Training run of the world model; every field is a flag."""

    latents: str = "data/crafter_latents"  # one cache, or several (comma-separated) of other sizes
    bucket_weights: str = ""  # comma-separated share of steps per cache; empty = by frame count
    vae: str = "runs/vae_crafter/vae.safetensors"
    recordings: str = "data/crafter"  # for the start-frame bank of the exported world
    out: str = "runs/world"
    preset: str = "S"
    window: int = 8
    patch: int = 2
    prev_frame: bool = False  # DiTConfig.prev_frame: tokens also embed the previous frame (frame stacking)
    # DiTConfig.view_moves (needs --prev-frame): "crafter" (its four moves, one latent cell each,
    # which holds for tile-aligned 72x72 frames) or "action:dx:dy,..."; empty = none
    view_moves: str = ""
    # DiTConfig.view_rows: latent rows the moving view covers; -1 = auto (with "crafter" the local
    # view above the inventory, read from the recordings; otherwise all), 0 = all
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
    resume: bool = False
    init: str = ""  # start from these DiT weights (a training state or a world's dit.safetensors)
    progress: bool = True
    # which frames --event-weight weights: "unlocks" (reward >= 0.5), "gains" (also every
    # inventory increase but health, read from the recordings' jsonl: e.g. each sapling, not only the
    # first) or "attempts" (gains, and every frame after an action that is neither a noop nor a view
    # move, succeeded or not: a model must learn when `make` fails as well as what it makes)
    event_frames: str = "unlocks"
    # with --view-moves: moves the game refused (recordings' player_pos) get the unmoved previous
    # frame as their moved input, as a world with a MoveGate (train_move_gate.py) dreams them
    refused_stay: bool = False
    # DiTConfig.outcomes (needs --view-moves, which names the moves; every other action but the noop
    # is an attempt): each frame's action token also says whether the attempt did what it tried,
    # read from the recordings' jsonl (latent_cache.outcome_labels); a world dreams it with an
    # OutcomeGate (train_move_gate.py --judge attempts)
    outcomes: bool = False
    outcome_sleep_action: int = 6  # the attempt that succeeds by falling asleep (Crafter's sleep; -1 = none)
    outcome_lr_scale: float = 30.0  # learning rate of the outcome embedding, times --lr
    # with --view-moves on tile-aligned Crafter caches: flow-loss weight of the tiles a move brings
    # into view, by class ("tree=3,cow=2"; names of Crafter's semantic map, read from the
    # recordings' jsonl `tiles`). The DiT draws that strip from nothing; a weight w on a class
    # turns its odds there from p:(1-p) into wp:(1-p) (README, Results, stop 29)
    strip_class_weights: str = ""
    flow: FlowConfig = field(default_factory=FlowConfig)


class WorldLoss(torch.nn.Module):
    """The DiT with its loss as forward(), so DDP can wrap it."""

    def __init__(self, dit: SpacetimeDiT, flow: FlowConfig):
        super().__init__()
        self.dit, self.flow = dit, flow

    def forward(self, z, actions, rewards, dones, captions=None, events=None, refused=None, stay=None, outcome=None,
                cell_weight=None):
        return flow_loss(self.dit, z, actions, rewards, dones, self.flow, captions, events, refused, stay, outcome,
                         cell_weight=cell_weight)


def batch_from_cache(cache: LatentCache, prev: torch.Tensor, rng, n: int, window: int, device,
                     events: torch.Tensor | None = None, refused: torch.Tensor | None = None,
                     outcome: torch.Tensor | None = None):
    """A batch of `n` windows: start indices, latents (n, window, c, h, w), the actions that led to
    each frame, rewards, dones, the event flags, the refused-move flags and the outcomes (each None
    when not given)."""
    starts = torch.from_numpy(cache.sample_windows(rng, n, window))
    idx = starts[:, None] + torch.arange(window)[None]
    z = cache.latents[idx].float().to(device)
    ev = None if events is None else events[idx].to(device)
    ref = None if refused is None else refused[idx].to(device)
    out = None if outcome is None else outcome[idx].to(device)
    return (starts, z, prev[idx].to(device), cache.rewards[idx].to(device), cache.dones[idx].bool().to(device),
            ev, ref, out)


@dataclass
class SizeBucket:
    """One latent cache (all frames of one size) with what training reads from it."""

    path: str
    cache: LatentCache
    prev: torch.Tensor  # action that led to each frame
    cap_ids: torch.Tensor | None  # caption fact ids per frame
    events: torch.Tensor | None = None  # (N,) bool frames the event weight applies to; None = unlocks
    refused: torch.Tensor | None = None  # (N,) bool frames after a refused move (--refused-weight)
    outcome: torch.Tensor | None = None  # (N,) int64 outcome of the action into each frame (--outcomes)
    tiles: torch.Tensor | None = None  # (N, rows, cols) uint8 local-view tile classes (--strip-class-weights)


def parse_class_weights(spec: str) -> torch.Tensor:
    """"tree=3,cow=2" -> (256,) float32 weight per Crafter tile class id (1 for the classes not named)."""
    from worldenv.games.crafter.parse import CLASS_NAMES

    table = torch.ones(256)
    for part in filter(None, (x.strip() for x in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in CLASS_NAMES or not value:
            raise ValueError(f"--strip-class-weights {spec!r}: want name=weight with a name among "
                             f"{', '.join(CLASS_NAMES[1:])}; got {part!r}")
        try:
            table[CLASS_NAMES.index(name)] = float(value)
        except ValueError:
            raise ValueError(f"--strip-class-weights {spec!r}: {value!r} is not a number") from None
        if table[CLASS_NAMES.index(name)] < 0:
            raise ValueError(f"--strip-class-weights {spec!r}: weights must be >= 0")
    return table


def strip_cell_weights(dit: SpacetimeDiT, bucket: SizeBucket, starts: torch.Tensor, actions: torch.Tensor,
                       table: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(n, t, h, w) flow-loss weights of a batch's latent cells: `table[class]` on the tiles each
    frame's move brought into view (`SpacetimeDiT.uncovered`; none after a move the game refused),
    1 elsewhere. The local view's tiles sit on the top-left latent cells (tile-aligned caches)."""
    n, t = actions.shape[:2]
    h, w = hw
    idx = starts[:, None] + torch.arange(t)[None]
    per_tile = table[bucket.tiles[idx].long()]  # (n, t, rows, cols)
    rows, cols = per_tile.shape[-2:]
    full = torch.ones(n, t, h, w)
    full[..., :rows, :cols] = per_tile
    stay = None if bucket.refused is None else bucket.refused[idx].flatten().to(actions.device)
    strip = dit.uncovered(actions.flatten(0, 1), h, w, stay).view(n, t, h, w)
    return torch.where(strip, full.to(actions.device), torch.ones((), device=actions.device))


def load_buckets(cfg: "TrainWorldConfig") -> tuple[list[SizeBucket], np.ndarray]:
    """The caches named by --latents and the share of steps each gets; checks they agree."""
    paths = split_sources(cfg.latents, "--latents")
    moves = [m[0] for m in parse_view_moves(cfg.view_moves)] if cfg.view_moves else []  # the move actions
    buckets = []
    for path in paths:
        cache = LatentCache.load(path)
        cap_ids = None
        if cfg.captions:
            if len(cache.captions) != len(cache):
                raise ValueError(f"{path}: captions.jsonl has {len(cache.captions)} lines for {len(cache)} frames")
            cap_ids = caption_ids(cache.captions, 16)  # computed once; a window's first frame conditions it
        gains_wanted = cfg.flow.event_weight != 1 and cfg.event_frames in ("gains", "attempts")
        records = None
        strip_wanted = bool(cfg.strip_class_weights)
        refused_wanted = cfg.flow.refused_weight != 1 or cfg.refused_stay or strip_wanted
        if gains_wanted or refused_wanted or cfg.outcomes:
            # the jsonl beside the recordings the cache was encoded from, read once for both flags
            try:
                records = episode_records(cache, prefix=True)
            except ValueError as e:
                flags = (f"--event-frames {cfg.event_frames}" if gains_wanted else
                         "--strip-class-weights" if strip_wanted else
                         "--refused-weight / --refused-stay" if refused_wanted else "--outcomes")
                raise ValueError(f"{path}: {flags}: {e}") from None
        events = None
        if gains_wanted:  # an item gain or an unlock
            events = torch.from_numpy(item_gain_frames(cache, records=records)) | (cache.rewards >= 0.5)
            if cfg.event_frames == "attempts":
                events |= torch.from_numpy(attempt_frames(cache, [0] + moves))  # noop and the moves are quiet
        refused = None
        if refused_wanted:
            refused = torch.from_numpy(refused_move_frames(cache, moves, records=records))
        outcome = None
        if cfg.outcomes:
            attempts = attempt_actions(cache.meta["action_nvec"][0], moves)
            sleep = None if cfg.outcome_sleep_action < 0 else cfg.outcome_sleep_action
            outcome = torch.from_numpy(outcome_labels(cache, attempts, sleep, records=records))
        tiles = None
        if strip_wanted:
            tiles = torch.from_numpy(tile_maps(cache, records=records))
            if tiles.shape[-2] > cache.latents.shape[-2] or tiles.shape[-1] != cache.latents.shape[-1]:
                raise ValueError(f"{path}: tile maps of {tuple(tiles.shape[-2:])} do not sit on latents of "
                                 f"{tuple(cache.latents.shape[-2:])}: --strip-class-weights needs tile-aligned frames")
        buckets.append(SizeBucket(path, cache, cache.actions_into_frames(), cap_ids, events, refused, outcome, tiles))
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
    weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
    head = "heads_mlp.3"  # the last heads layer: unlock, rest of reward, termination, then names
    have, want = weights.get(f"{head}.weight"), dit.cfg.achievements + 3
    if have is not None and have.shape[0] > want == 3:
        # a shipped world whose heads also name achievements (scripts/train_heads.py): this run
        # trains the three base heads; train_heads names them again afterwards
        weights[f"{head}.weight"], weights[f"{head}.bias"] = have[:3], weights[f"{head}.bias"][:3]
    for name in ("prev_in", "moved_in", "outcome_embed"):
        if hasattr(dit, name) and f"{name}.weight" not in weights:
            # weights of a model without this previous-frame input: it starts at zero (the same model)
            weights.update({f"{name}.{k}": v for k, v in getattr(dit, name).state_dict().items()})
    load_state_strict(dit, weights, path)


def parse_view_moves(spec: str) -> tuple[tuple[int, int, int], ...]:
    """--view-moves: "" (none), "crafter", or "action:dx:dy,..." -> DiTConfig.view_moves."""
    if not spec:
        return ()
    if spec == "crafter":
        from worldenv.games.crafter.env import PLAYER_MOVES

        return tuple((a, dx, dy) for a, (dx, dy) in sorted(PLAYER_MOVES.items()))
    try:
        return tuple(tuple(int(x) for x in part.split(":", 2)) for part in spec.split(","))
    except ValueError:
        raise ValueError(f"--view-moves must be 'crafter' or 'action:dx:dy,...', got {spec!r}") from None


def check_tile_aligned(buckets, view_rows: int = -1) -> int:
    """--view-moves crafter shifts by one latent cell per step: only right where one game tile is
    one latent cell (Crafter at 72x72 with a 9x9 view), so other caches are refused by name.
    Returns the latent rows of the local view (above the inventory, which does not move), or
    `view_rows` when that is given (>= 0)."""
    from model.recordings import RecordingError, recorded_view
    from worldenv.games.crafter.parse import inventory_rows

    rows = set()

    for b in buckets:
        fw, fh = b.cache.meta["frame_size"]
        lh, lw = b.cache.latents.shape[-2:]
        try:
            vw, vh = recorded_view(b.cache.meta["data"])
        except (OSError, RecordingError) as e:
            raise ValueError(f"{b.path}: --view-moves crafter needs the recordings it was encoded from "
                             f"to read the tile view: {e}") from None
        if (fw / vw, fh / vh) != (fw / lw, fh / lh):
            raise ValueError(f"{b.path}: a tile is {fw / vw:.3g}x{fh / vh:.3g} px ({fw}x{fh} frames, {vw}x{vh} tiles) "
                             f"but a latent cell is {fw / lw:.3g}x{fh / lh:.3g} px, so a step is not a one-cell "
                             f"shift; --view-moves crafter needs tile-aligned frames (e.g. --size 72 72 for "
                             f"a 9x9 view)")
        rows.add(vh - inventory_rows((vw, vh)))
    if view_rows >= 0:
        return view_rows
    if len(rows) > 1:
        raise ValueError(f"the caches' tile views have different local-view heights {sorted(rows)}: "
                         f"--view-moves crafter needs one (pass --view-rows to choose)")
    return rows.pop()


def export_world(dit: SpacetimeDiT, cfg: TrainWorldConfig, step: int, bank) -> Path:
    from model.rollout import WorldModel
    from model.vae import VideoVAE

    world = WorldModel(VideoVAE.load(cfg.vae), dit, torch.from_numpy(bank[0]), torch.from_numpy(bank[1]), {})
    rollout = {"context_sigma": cfg.rollout_context_sigma, "reground": cfg.rollout_reground,
               "guidance": cfg.rollout_guidance}
    return world.save_replacing(Path(cfg.out) / "world", steps=step, latents=cfg.latents, preset=cfg.preset,
                                rollout=rollout)


def train(cfg: TrainWorldConfig) -> Path:
    d = setup_distributed(cfg.device, cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    buckets, bucket_p = load_buckets(cfg)
    view_rows = max(cfg.view_rows, 0)
    if cfg.view_moves == "crafter":
        view_rows = check_tile_aligned(buckets, cfg.view_rows)
    c = buckets[0].cache.latents.shape[1]
    nvec = tuple(buckets[0].cache.meta["action_nvec"])
    text = {"caption_dim": len(VOCAB), "max_caption_tokens": 16} if cfg.captions else {}
    dit_cfg = preset(cfg.preset, latent_channels=c, patch=cfg.patch, window=cfg.window, action_nvec=nvec,
                     prev_frame=cfg.prev_frame, view_moves=parse_view_moves(cfg.view_moves),
                     view_rows=view_rows, outcomes=cfg.outcomes, **text)
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
    # the outcome embedding starts at zero beside action embeddings of norm ~13: at the base rate it
    # stayed near zero in 5000 steps (README, stop 22), so it gets its own rate and no decay
    fast = [p for n, p in dit.named_parameters() if n.startswith("outcome_embed.")]
    decay = [p for n, p in dit.named_parameters() if p.ndim >= 2 and not n.startswith("outcome_embed.")]
    no_decay = [p for n, p in dit.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]
    if fast:
        groups.append({"params": fast, "weight_decay": 0.0, "lr_scale": cfg.outcome_lr_scale})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))
    state_path = out / "last.safetensors"
    step = resume_state(state_path, dit, opt, KIND, cfg.resume, d.main, same={"steps": cfg.steps, "lr": cfg.lr})
    rng = np.random.default_rng([cfg.seed, d.rank, step])
    # noise levels, noise and dropout draws continue from the step, not from step 0 again
    torch.manual_seed(int(np.random.SeedSequence([cfg.seed, d.rank, step]).generate_state(1)[0]))
    model = wrap_for_training(WorldLoss(dit, cfg.flow), d, cfg.compile)
    bank = start_clips(cfg.recordings, cfg.start_bank, cfg.window - 1, cfg.seed) if d.main else None
    log = CsvLogger(out / "log.csv", enabled=d.main)
    strip_table = parse_class_weights(cfg.strip_class_weights) if cfg.strip_class_weights else None
    end = run_end(cfg.steps, cfg.stop_at)
    bar = tqdm(total=end, initial=step, desc="train world", disable=not (cfg.progress and d.main))
    per_rank = max(1, cfg.batch_size // d.world)
    while step < end:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps) * g.get("lr_scale", 1.0)
        bucket = buckets[pick_bucket(cfg.seed, step, bucket_p)]
        starts, z, actions, rewards, dones, events, refused, outcome = batch_from_cache(
            bucket.cache, bucket.prev, rng, per_rank, cfg.window, d.device, bucket.events, bucket.refused,
            bucket.outcome)
        captions = None
        if cfg.captions and rng.random() >= cfg.caption_dropout:
            captions = ids_to_tokens(bucket.cap_ids[starts]).to(d.device)
        weighted = refused if cfg.flow.refused_weight != 1 else None
        stay = refused if cfg.refused_stay else None
        cells = None if strip_table is None else strip_cell_weights(dit, bucket, starts, actions, strip_table,
                                                                    z.shape[-2:])
        with autocast(d.device, cfg.bf16):
            loss, stats = model(z, actions, rewards, dones, captions, events, weighted, stay, outcome, cells)
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
            export_world(dit, cfg, step, bank)
    bar.close()
    world = out / "world"
    if d.main:
        print(f"world model: {world} (step {step})")
    cleanup_distributed()
    return world


def parse_args(argv=None) -> TrainWorldConfig:
    cfg = parse_nested_config(__doc__, TrainWorldConfig, "flow", FlowConfig, argv)
    if cfg.event_frames not in ("unlocks", "gains", "attempts"):
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
    if cfg.outcomes and not cfg.view_moves:
        raise SystemExit("error: --outcomes needs --view-moves (it names the moves, which are not attempts)")
    if cfg.strip_class_weights and not cfg.view_moves:
        raise SystemExit("error: --strip-class-weights needs --view-moves (they say which strip a move brings in)")
    if cfg.strip_class_weights:
        try:
            parse_class_weights(cfg.strip_class_weights)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    if cfg.refused_stay and not cfg.view_moves:
        raise SystemExit("error: --refused-stay needs --view-moves (it keeps their moved input still)")
    if cfg.view_moves and not cfg.prev_frame:
        raise SystemExit("error: --view-moves moves the previous-frame input: add --prev-frame")
    if cfg.view_rows < -1:
        raise SystemExit(f"error: --view-rows must be -1 (auto), 0 (all) or a row count, got {cfg.view_rows}")
    if cfg.view_rows > 0 and not cfg.view_moves:
        raise SystemExit("error: --view-rows says which rows --view-moves shifts: add --view-moves")
    try:
        parse_view_moves(cfg.view_moves)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return cfg


if __name__ == "__main__":
    train(parse_args())
