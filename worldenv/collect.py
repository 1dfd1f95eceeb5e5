"""Collect recordings of real play: `<out>/<name>.mp4` + `<name>.jsonl` per episode and `index.json`.

    soraworld-collect --game crafter --episodes 20 --policy explore --out data/crafter72
    soraworld-collect --game minerl --env MineRLTreechop-v0 --episodes 2 --out data/minerl

Each episode is played and written by its game plugin's recorder (`Game.record_episode`). Episodes
run in parallel worker processes. Each episode is written under temporary names and renamed when
complete; `index.json` is rewritten (atomically) after every finished episode, so an interrupted or
crashed collection loses at most the episodes in flight. Running the same command again resumes:
episodes already in the index are skipped, and episode files of this collector's naming that the
index does not list (a killed run's) are moved to `<out>/unlisted/` and collected again. `<out>/.collect.lock` keeps
a second collector out while this one or any of its workers runs; workers die with the collector
(a parent-death signal), and the lock file goes when the run ends. Crafter frames are 72x72 by default, the shipped
world's size (9x9 tiles of 8 px).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from model.cli import command_line
from model.recordings import INDEX_NAME, EpisodeInfo, RecordingError, read_index, write_index

# --game -> the game plugin that records it (MineRL envs are the Minecraft plugin's)
GAMES = {"crafter": "crafter", "minerl": "minecraft", "minetest": "minetest"}
# the policies each game's recorder plays ("loop": walks and turns that come back to their start)
GAME_POLICIES = {"crafter": ("random", "explore"), "minerl": ("random",), "minetest": ("random", "explore", "loop")}
POLICIES = ("random", "explore", "loop")
# frame size (W, H) where --size is not given: the shipped Crafter world's, Minetest's native 4:3
DEFAULT_SIZE = {"crafter": (72, 72), "minetest": (160, 120)}


@dataclass
class CollectConfig:
    """What to collect; every field is a command-line flag."""

    game: str = "crafter"
    episodes: int = 20
    policy: str = "explore"
    out: str = "data/crafter"
    seed: int = 0
    workers: int = max(1, min(2, os.cpu_count() or 1))
    max_steps: int = 10_000
    size: tuple[int, int] | None = None  # frames (W, H); None: the game's DEFAULT_SIZE
    view: tuple[int, int] = (9, 9)  # Crafter's tile view (cols, rows)
    area: tuple[int, int] = (64, 64)  # Crafter's world size in tiles
    env: str = "MineRLTreechop-v0"  # MineRL env id (game=minerl)
    epsilon: float = 0.15  # explore policy's share of random actions


def episode_name(cfg: CollectConfig, index: int) -> str:
    return f"{cfg.game}_{cfg.policy}_{cfg.seed + index:07d}"


def make_policy(cfg: CollectConfig, seed: int):
    """What the game's recorder plays. Crafter's takes a callable info -> action: uniform over its
    actions ("random") or the scripted explorer (`agents.explore`); the other recorders take the
    policy's name and draw its actions themselves."""
    if cfg.game != "crafter":
        return cfg.policy
    import numpy as np

    from worldenv.games import get_game

    if cfg.policy == "random":
        rng = np.random.default_rng(seed)
        n = get_game("crafter").action_nvec[0]
        return lambda info: int(rng.integers(0, n))
    from agents.explore import ExplorePolicy

    policy = ExplorePolicy(seed=seed, epsilon=cfg.epsilon)
    return policy.act


def recorder_options(cfg: CollectConfig) -> dict:
    """The game's own recorder options: MineRL's env id; Minetest's frame size; Crafter's frame
    size, tile view and world area."""
    if cfg.game == "minerl":
        return {"env_id": cfg.env}
    size = tuple(cfg.size) if cfg.size is not None else DEFAULT_SIZE[cfg.game]
    if cfg.game == "minetest":
        return {"size": size}
    return {"size": size, "view": tuple(cfg.view), "area": tuple(cfg.area)}


def collect_one(cfg: CollectConfig, index: int) -> EpisodeInfo:
    """Worker: play and write one episode with the game plugin's recorder."""
    from worldenv.games import get_game

    seed = cfg.seed + index
    game = get_game(GAMES[cfg.game])
    return game.record_episode(out_dir=cfg.out, name=episode_name(cfg, index), seed=seed,
                               policy=make_policy(cfg, seed), max_steps=cfg.max_steps, **recorder_options(cfg))


LOCK_NAME = ".collect.lock"
_worker_lock = None  # a worker's hold on the folder's lock (kept open until the worker exits)


def die_with_parent(parent: int) -> None:
    """In a worker: be killed when the collector `parent` dies, so no worker goes on writing
    episodes the index will never list. On Linux the kernel sends SIGKILL (prctl
    PR_SET_PDEATHSIG); elsewhere, or if that fails, a thread checks the parent's pid every second."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    if not armed:
        def watch():
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_init(parent: int, lock: str | None, inode: int | None) -> None:
    """A worker's start: die with the collector, and share its lock on the folder, so the folder
    stays locked as long as any of its processes runs (`folder_lock`)."""
    global _worker_lock
    die_with_parent(parent)
    if lock is None:
        return
    import fcntl

    f = open(lock, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os._exit(1)  # another collector holds the folder: this one's parent has lost it
    if os.fstat(f.fileno()).st_ino != inode:
        os._exit(1)
    _worker_lock = f


def _lock_args(out: Path) -> tuple[str | None, int | None]:
    path = out / LOCK_NAME
    try:
        return str(path), os.stat(path).st_ino
    except FileNotFoundError:  # not POSIX (no lock taken)
        return None, None


def _worker(args):
    cfg, index = args
    try:
        return index, collect_one(cfg, index), None
    except Exception as e:  # noqa: BLE001 - reported by the parent, which keeps the index intact
        return index, None, f"{type(e).__name__}: {e}"


def check_config(cfg: CollectConfig) -> None:
    """Clear errors for bad flags before any work starts."""
    if cfg.game not in GAMES:
        raise SystemExit(f"error: unknown game {cfg.game!r}; choose one of {', '.join(GAMES)}")
    if cfg.policy not in GAME_POLICIES[cfg.game]:
        raise SystemExit(f"error: policy {cfg.policy!r} is not one of {cfg.game}'s: "
                         f"{', '.join(GAME_POLICIES[cfg.game])}")
    if cfg.episodes < 1 or cfg.workers < 1 or cfg.max_steps < 1:
        raise SystemExit("error: --episodes, --workers and --max-steps must be >= 1")
    if cfg.game == "minerl":
        try:
            from worldenv.games.minecraft.minerl import require_minerl

            require_minerl()
        except ImportError as e:
            raise SystemExit(f"error: {e}") from None
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"error: cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise SystemExit(f"error: output folder {out} is not writable")


@contextmanager
def folder_lock(out: Path):
    """Hold `<out>/.collect.lock` for the whole run: two collectors writing one folder would each
    rewrite index.json from their own list, and the last one would drop the other's episodes.

    The collector takes the lock exclusively, which fails while any process holds it, then holds it
    shared, as each of its workers does (`_worker_init`): a worker that outlives a killed collector
    still keeps a new one out. The file is removed when the run ends."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    out = Path(out)
    path = out / LOCK_NAME
    busy = (f"error: another collector is writing {out} (it, or a worker of it, holds {LOCK_NAME}); wait for it "
            "to finish (or collect in parallel with --workers N in one run)")
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise SystemExit(busy) from None
        try:  # a collector that just finished may have removed the file we locked: lock the one there now
            same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared with the workers from here on
        except BlockingIOError:  # another collector took it between the two: it goes on, this one stops
            raise SystemExit(busy) from None
        yield
    finally:
        path.unlink(missing_ok=True)  # no lock file left behind (the lock is still held while it goes)
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def collect(cfg: CollectConfig, progress: bool = True) -> list[EpisodeInfo]:
    """Collect the missing episodes of `cfg` and return the full index."""
    check_config(cfg)
    with folder_lock(Path(cfg.out)):
        return _collect(cfg, progress)


EPISODE_FILE = re.compile(r"^(%s)_(%s)_\d{7}\.(mp4|jsonl)$" % ("|".join(GAMES), "|".join(POLICIES)))


UNLISTED_DIR = "unlisted"


def remove_unlisted(out: Path, listed: dict[str, EpisodeInfo]) -> list[Path]:
    """Move the episode files of this collector's naming (`episode_name`) that the index does not
    list into `<out>/unlisted/`: a killed run's (its worker finished an episode after the index was
    last written). Their episodes are collected again. They are moved, not deleted, so that a lost
    `index.json` costs no earlier collection. Returns the files' new paths."""
    moved = []
    for f in sorted(out.iterdir()):
        if EPISODE_FILE.match(f.name) and f.stem not in listed and f.is_file():
            (out / UNLISTED_DIR).mkdir(exist_ok=True)
            target, n = out / UNLISTED_DIR / f.name, 1
            while target.exists():  # an earlier run's copy of the same name stays
                target, n = out / UNLISTED_DIR / f"{f.stem}.{n}{f.suffix}", n + 1
            moved.append(f.rename(target))
    if moved:
        print(f"moved {len(moved)} episode files that {out / INDEX_NAME} does not list (a killed run's; collected "
              f"again) to {out / UNLISTED_DIR}: {', '.join(f.name for f in moved[:4])}{' ...' if len(moved) > 4 else ''}")
    return moved


def _collect(cfg: CollectConfig, progress: bool) -> list[EpisodeInfo]:
    out = Path(cfg.out)
    done: dict[str, EpisodeInfo] = {}
    if (out / INDEX_NAME).exists():
        try:
            done = {e.name: e for e in read_index(out)}
        except RecordingError as e:
            raise SystemExit(f"error: {e}; move it away to start a fresh collection") from None
    # Skip only episodes whose files are really there (a deleted file is collected again).
    done = {n: e for n, e in done.items() if (out / f"{n}.mp4").exists() and (out / f"{n}.jsonl").exists()}
    remove_unlisted(out, done)
    todo = [i for i in range(cfg.episodes) if episode_name(cfg, i) not in done]
    meta = {"game": cfg.game, "policy": cfg.policy}
    if not todo:
        print(f"all {cfg.episodes} episodes already in {out / INDEX_NAME}")
        return list(done.values())

    # Partial files of a crashed earlier run: those episodes are in `todo` again.
    for stale in out.glob(".*.part"):
        stale.unlink(missing_ok=True)
    t0, frames, failures = time.time(), 0, []
    bar = tqdm(total=len(todo), desc=f"collect {cfg.game}/{cfg.policy}", unit="ep", disable=not progress)
    jobs = [(cfg, i) for i in todo]
    workers = min(cfg.workers, len(todo))

    def record(index, info, error):
        nonlocal frames
        if error is not None:
            failures.append(f"{episode_name(cfg, index)}: {error}")
            tqdm.write(f"episode {episode_name(cfg, index)} failed and was skipped: {error}")
        else:
            done[info.name] = info
            frames += info.frames
            write_index(out, sorted(done.values(), key=lambda e: e.name), **meta)
            over = int(info.extra.get("tick_overruns", 0))  # real-time games: ticks that ran late
            if over > 0.02 * info.frames:
                tqdm.write(f"warning: {info.name}: {over} of {info.frames} ticks ran over 1.5 periods (the machine "
                           "is too busy for this many workers: fewer --workers keep the tick rate)")
        bar.update(1)
        bar.set_postfix(frames=frames, fps=f"{frames / max(1e-9, time.time() - t0):.0f}")

    try:
        if workers == 1:
            for job in jobs:
                record(*_worker(job))
        else:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                     initargs=(os.getpid(), *_lock_args(out))) as pool:
                futures = {pool.submit(_worker, job): job[1] for job in jobs}
                for fut in as_completed(futures):
                    try:
                        record(*fut.result())
                    except BrokenProcessPool:
                        # A worker died (killed, out of memory): its episode and the ones not yet
                        # started are reported; the index only lists complete episodes.
                        record(futures[fut], None, "worker process died; run the same command again to resume")
    finally:
        bar.close()
    seconds = time.time() - t0
    nbytes = sum(e.bytes for e in done.values())
    total_frames = sum(e.frames for e in done.values())
    print(
        f"wrote {len(todo) - len(failures)} episodes, {frames} frames in {seconds:.1f}s "
        f"({frames / max(seconds, 1e-9):.0f} frames/s); folder: {len(done)} episodes, {total_frames} frames, "
        f"{nbytes / 1e6:.1f} MB ({nbytes / max(total_frames, 1) * 1000 / 1e6:.2f} MB per 1000 frames)"
    )
    if failures:
        print(f"{len(failures)} episodes failed:", *failures, sep="\n  ", file=sys.stderr)
    return list(done.values())


def parse_args(argv=None) -> tuple[CollectConfig, bool]:
    d = CollectConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", default=d.game, help=f"one of {', '.join(GAMES)}")
    p.add_argument("--episodes", type=int, default=d.episodes)
    p.add_argument("--policy", default=d.policy,
                   help="; ".join(f"{g}: {', '.join(ps)}" for g, ps in GAME_POLICIES.items()))
    p.add_argument("--out", default=d.out)
    p.add_argument("--seed", type=int, default=d.seed, help="episode i uses seed + i")
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--size", type=int, nargs=2, default=d.size, metavar=("W", "H"),
                   help="frame size (default: Crafter 72 72, the shipped world's; Minetest 160 120)")
    p.add_argument("--view", type=int, nargs=2, default=d.view, metavar=("W", "H"), help="Crafter tile view")
    p.add_argument("--area", type=int, nargs=2, default=d.area, metavar=("W", "H"), help="Crafter world size")
    p.add_argument("--env", default=d.env, help="MineRL env id (--game minerl)")
    p.add_argument("--epsilon", type=float, default=d.epsilon, help="explore policy's share of random actions")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = CollectConfig(
        game=a.game, episodes=a.episodes, policy=a.policy, out=a.out, seed=a.seed, workers=a.workers,
        max_steps=a.max_steps, size=tuple(a.size) if a.size else None, view=tuple(a.view), area=tuple(a.area), env=a.env,
        epsilon=a.epsilon,
    )
    return cfg, not a.no_progress


@command_line
def main(argv=None) -> list[EpisodeInfo]:
    cfg, progress = parse_args(argv)
    return collect(cfg, progress=progress)
