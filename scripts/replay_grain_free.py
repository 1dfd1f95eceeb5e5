"""Write a grain-free copy of a Crafter recordings folder: every episode replayed with the night
grain at its mean (worldenv/games/crafter/replay.py), same names, frames and jsonl.

    python scripts/replay_grain_free.py --data data/crafter72_heldout --out data/crafter72_heldout_grainfree
    python scripts/replay_grain_free.py --data data/crafter72 --out data/crafter72_grainfree --workers 2

Frame i of an episode in the copy is frame i of the original without the grain, so the copy lines
up with the original frame for frame: `evaluate_vae.py --grain-free` measures against it what a
reconstruction without grain can agree on, and `train_vae.py --target-data` trains a VAE to give
back the frame without the grain it cannot predict. Day frames are identical in both folders.
Running the same command again resumes: episodes already in the copy's index are skipped.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.recordings import (  # noqa: E402
    EpisodeInfo,
    EpisodeWriter,
    RecordingError,
    list_episodes,
    read_index,
    read_jsonl,
    write_index,
)


def copy_episode(data: str, out: str, info: EpisodeInfo) -> EpisodeInfo:
    """Replay one episode without grain and write it to `out` under the same name."""
    from worldenv.games.crafter.replay import replay_episode

    records = read_jsonl(Path(data) / f"{info.name}.jsonl")
    frames = replay_episode(data, info, grain=False, records=records)
    writer = EpisodeWriter(out, info.name, fps=info.fps)
    try:
        for frame, rec in zip(frames, records, strict=True):
            writer.add(frame, rec)
    except BaseException:
        writer.abort()
        raise
    return writer.close(info.game, **{**info.extra, "night_grain": "mean"})


def main(argv=None) -> list[EpisodeInfo]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Crafter recordings folder (with seeds in index.json)")
    p.add_argument("--out", required=True, help="folder for the grain-free copy")
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    if Path(a.out).resolve() == Path(a.data).resolve():
        raise SystemExit("error: --out must be another folder than --data")
    try:
        episodes = list_episodes(a.data)
    except RecordingError as e:
        raise SystemExit(f"error: {e}") from None
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    done = {e.name: e for e in read_index(out)} if (out / "index.json").exists() else {}
    done = {n: e for n, e in done.items() if (out / f"{n}.mp4").exists()}
    todo = [e for e in episodes if e.name not in done]
    bar = tqdm(total=len(episodes), initial=len(episodes) - len(todo), desc="replay without grain", unit="ep")

    def finished(info: EpisodeInfo) -> None:
        done[info.name] = info
        # the original's order: check_grain_free_copy compares the two indexes episode by episode
        write_index(out, [done[e.name] for e in episodes if e.name in done], game="crafter", night_grain="mean")
        bar.update(1)

    try:
        if a.workers <= 1:
            for info in todo:
                finished(copy_episode(a.data, a.out, info))
        else:
            pool = ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn"))
            try:
                for fut in [pool.submit(copy_episode, a.data, a.out, info) for info in todo]:
                    finished(fut.result())
            finally:  # a failure stops the queue: what is not indexed would be replayed again anyway
                pool.shutdown(cancel_futures=True)
    except RecordingError as e:
        raise SystemExit(f"error: {e}") from None
    finally:
        bar.close()
    print(f"{len(done)} episodes in {out} ({sum(e.frames for e in done.values())} frames, grain at its mean)")
    return list(done.values())


if __name__ == "__main__":
    main()
