"""The recording format: one episode = `<name>.mp4` + `<name>.jsonl`, plus a folder `index.json`.

This is the VPT layout, so Minecraft recordings from OpenAI's VPT data load with the same
code. Each jsonl line describes one video frame. For the recordings a game plugin writes (e.g.
the 2D games' recorders, MineRL collection) a line holds:

    {"action": int | list | null,  # action taken *after* this frame (null on the last frame)
     "reward": float,              # reward received on arriving at this frame (0 on the first)
     "done": bool,                 # this frame is terminal
     "inventory": {...}, "caption": "...", ...}

Videos of pixel-art games are written losslessly (libx264rgb, crf 0): lossy codecs smear
1-pixel edges. Writes are atomic (temporary names, then rename), so an interrupted writer
never leaves a half episode that looks complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

FORMAT_VERSION = 1
INDEX_NAME = "index.json"


class RecordingError(ValueError):
    """A recording on disk is malformed: truncated video, bad jsonl, mismatched lengths."""


@dataclass
class EpisodeInfo:
    """What `index.json` says of one episode."""

    name: str
    frames: int
    width: int
    height: int
    fps: float
    game: str
    bytes: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Episode:
    """A decoded episode: frames (t h w c, uint8 RGB) and one jsonl record per frame."""

    info: EpisodeInfo
    frames: np.ndarray
    records: list[dict]


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to `path` through a temporary file and a rename (never half-written)."""
    from model.checkpoint import umask_mode

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, umask_mode())  # mkstemp's 0600 -> the mode every other output gets
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EpisodeWriter:
    """Streams one episode to `<out>/<name>.mp4` + `.jsonl`.

    Frames are encoded as they arrive (memory stays flat over 10,000-step episodes). Files
    carry temporary names until `close()` renames them; `abort()` (or an exception inside
    a `with` block) removes them.
    """

    def __init__(self, out_dir: str | Path, name: str, fps: float = 10.0, lossless: bool = True):
        self.out_dir = Path(out_dir)
        self.name = name
        self.fps = fps
        self.lossless = lossless
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(self.out_dir, os.W_OK):
            raise PermissionError(f"output folder {self.out_dir} is not writable")
        self._video_tmp = self.out_dir / f".{name}.mp4.part"
        self._jsonl_tmp = self.out_dir / f".{name}.jsonl.part"
        self._container = None
        self._stream = None
        self._jsonl = open(self._jsonl_tmp, "w")
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (height, width)

    def _open_video(self, height: int, width: int) -> None:
        self._container = av.open(str(self._video_tmp), mode="w", format="mp4")
        if self.lossless:
            stream = self._container.add_stream("libx264rgb", rate=_fps_fraction(self.fps))
            stream.pix_fmt = "rgb24"
            stream.options = {"crf": "0", "preset": "ultrafast"}
        else:
            if height % 2 or width % 2:
                raise ValueError(f"lossy yuv420p video needs even sizes, got {width}x{height}")
            stream = self._container.add_stream("libx264", rate=_fps_fraction(self.fps))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
        stream.width, stream.height = width, height
        self._stream = stream

    def add(self, frame: np.ndarray, record: dict) -> None:
        """Append one frame (h w 3 uint8) and its jsonl record."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self.size is None:
            self.size = frame.shape[:2]
            self._open_video(*self.size)
        elif frame.shape[:2] != self.size:
            raise ValueError(f"frame size changed mid-episode: {frame.shape[:2]} != {self.size}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._jsonl.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.frames += 1

    def close(self, game: str, **extra) -> EpisodeInfo:
        """Finish the files, rename them into place, and return the episode's index entry."""
        if self.frames == 0:
            self.abort()
            raise ValueError(f"episode {self.name} has no frames")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._jsonl.close()
        video = self.out_dir / f"{self.name}.mp4"
        jsonl = self.out_dir / f"{self.name}.jsonl"
        # jsonl first: a video without its jsonl is not listed, so a crash between the two
        # renames leaves an orphan jsonl that the next run overwrites, never a half episode.
        os.replace(self._jsonl_tmp, jsonl)
        os.replace(self._video_tmp, video)
        h, w = self.size
        nbytes = video.stat().st_size + jsonl.stat().st_size
        return EpisodeInfo(self.name, self.frames, w, h, float(self.fps), game, nbytes, dict(extra))

    def abort(self) -> None:
        """Drop the partial episode."""
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # noqa: BLE001 - the files are deleted anyway
            pass
        if not self._jsonl.closed:
            self._jsonl.close()
        self._video_tmp.unlink(missing_ok=True)
        self._jsonl_tmp.unlink(missing_ok=True)

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def _fps_fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


# ---------------------------------------------------------------- reading


def read_jsonl(path: str | Path, limit: int | None = None) -> list[dict]:
    """Parse a jsonl file (or its first `limit` records) with `json.loads` only (never eval), naming
    the file and line on error."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: missing jsonl file")
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordingError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise RecordingError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    return records


def probe_video(path: str | Path) -> tuple[int, int, float]:
    """(width, height, fps) of a video's first stream."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 0)
            return s.codec_context.width, s.codec_context.height, fps
    except (av.error.FFmpegError, IndexError) as e:
        raise RecordingError(f"{path}: cannot open video ({e})") from None


def decode_video(path: str | Path, size: tuple[int, int] | None = None, max_frames: int | None = None) -> np.ndarray:
    """Decode all frames (or the first `max_frames`) to (t h w 3) uint8 RGB; `size=(w, h)` resizes
    (for 640x360 VPT video)."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: missing video file")
    frames = []
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                if size is not None and (frame.width, frame.height) != tuple(size):
                    frame = frame.reformat(width=size[0], height=size[1])
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (av.error.FFmpegError, IndexError) as e:
        if not frames:
            raise RecordingError(f"{path}: cannot decode video ({e})") from None
        # A cut-off file decodes up to the cut; the length check against the jsonl catches it.
    if not frames:
        raise RecordingError(f"{path}: video has no frames")
    return np.stack(frames)


def read_index(folder: str | Path) -> list[EpisodeInfo]:
    """Episodes listed in `<folder>/index.json`."""
    path = Path(folder) / INDEX_NAME
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RecordingError(f"{path}: malformed JSON ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
        raise RecordingError(f"{path}: expected an object with an 'episodes' list")
    version = data.get("version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise RecordingError(f"{path}: format version {version} is newer than this code ({FORMAT_VERSION})")
    out = []
    for i, e in enumerate(data["episodes"]):
        try:
            out.append(EpisodeInfo(**e))
        except TypeError as err:
            raise RecordingError(f"{path}: episode {i} is malformed ({err})") from None
        check_episode_name(out[-1].name, f"{path}: episode {i}")
    return out


def check_episode_name(name, where: str = "episode") -> str:
    """An episode's name as files are named after it (`<name>.mp4`): a RecordingError for a name
    that is not a plain file name (a path separator, `..`, empty), which would read or write
    outside the recordings folder."""
    if (not isinstance(name, str) or not name or name in (".", "..") or ".." in name or "/" in name
            or "\\" in name or "\0" in name or os.sep in name or (os.altsep and os.altsep in name)):
        raise RecordingError(f"{where}: episode name {name!r} is not a plain file name (no path separators or "
                             "'..'); refusing to read outside the recordings folder")
    return name


def count_video_frames(path: str | Path) -> int:
    """The frames a video holds, counted from its packets without decoding them; RecordingError for
    a file that cannot be opened (a cut-off mp4 loses its index and does not open)."""
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            return sum(1 for packet in c.demux(stream) if packet.size)
    except (av.error.FFmpegError, IndexError) as e:
        raise RecordingError(f"{path}: cannot read video ({e})") from None


def check_episode(folder: str | Path, info: EpisodeInfo) -> int:
    """Check an episode's files without decoding it: the jsonl's lines and the video's frames
    (packets) agree with each other and with the index. Returns the frame count; RecordingError
    naming the fault (a truncated video, a short jsonl, a missing file)."""
    folder = Path(folder)
    check_episode_name(info.name)
    video, jsonl = folder / f"{info.name}.mp4", folder / f"{info.name}.jsonl"
    for f in (video, jsonl):
        if not f.exists():
            raise RecordingError(f"{f}: missing {'video' if f == video else 'jsonl'} file")
    with open(jsonl, "rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    frames = count_video_frames(video)
    if frames != lines:
        raise RecordingError(f"{video}: {frames} video frames but {lines} jsonl lines (truncated video or jsonl?)")
    if info.frames >= 0 and frames != info.frames:
        raise RecordingError(f"{video}: index.json says {info.frames} frames, found {frames}")
    return frames


def write_index(folder: str | Path, episodes: list[EpisodeInfo], **meta) -> None:
    """Atomically write `<folder>/index.json`."""
    data = {"version": FORMAT_VERSION, **meta, "episodes": [asdict(e) for e in episodes]}
    atomic_write_text(Path(folder) / INDEX_NAME, json.dumps(data, indent=1))


def list_episodes(folder: str | Path) -> list[EpisodeInfo]:
    """Episodes of a recordings folder: from `index.json`, else by scanning `*.mp4` with a `.jsonl`.

    Scanning is what makes plain VPT downloads (no index) loadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: not a folder of recordings")
    if (folder / INDEX_NAME).exists():
        episodes = read_index(folder)
    else:
        episodes = []
        for video in sorted(folder.glob("*.mp4")):
            if not video.with_suffix(".jsonl").exists():
                continue
            w, h, fps = probe_video(video)
            episodes.append(EpisodeInfo(video.stem, -1, w, h, fps, "unknown", video.stat().st_size))
    if not episodes:
        raise RecordingError(f"{folder}: no episodes (expected <name>.mp4 + <name>.jsonl pairs)")
    return episodes


def draw_windows(folder: str | Path, length: int, n: int, seed: int, per_episode: int = 1) -> list:
    """(episode info, first frame) of `n` windows of `length` frames drawn at random from the episodes
    of `folder`, `per_episode` from each episode drawn, episodes in a random order; lengths come from
    the index (or, in a folder without one, the jsonl's lines: one per frame), so no video is
    decoded. The same arguments draw the same windows (evaluations score the same clips). A
    ValueError when no episode is that long."""
    rng = np.random.default_rng(seed)
    episodes = list_episodes(folder)
    out = []
    for i in rng.permutation(len(episodes)):
        L = episodes[i].frames
        if L < 0:  # not indexed
            with open(Path(folder) / f"{episodes[i].name}.jsonl", "rb") as f:
                L = sum(1 for line in f if line.strip())
        if L < length:
            continue
        for _ in range(min(per_episode, n - len(out))):
            out.append((episodes[i], int(rng.integers(0, L - length + 1))))
        if len(out) == n:
            break
    if not out:
        raise ValueError(f"{folder}: no episode has {length} frames")
    return out


def recorded_view(folder: str | Path, default: tuple[int, int] = (9, 9)) -> tuple[int, int]:
    """The tile view (cols, rows) the game rendered with, from the first episode's extras.

    E.g. 9x9 for square recordings of a tile-based game, 13x9 for widescreen ones. Frame parsers
    need it.
    """
    view = list_episodes(folder)[0].extra.get("view", default)
    if not (isinstance(view, (list, tuple)) and len(view) == 2 and all(isinstance(v, int) for v in view)):
        raise RecordingError(f"{folder}: episode extra 'view' must be two ints, got {view!r}")
    return int(view[0]), int(view[1])


def recorded_game(folder: str | Path) -> str:
    """The name of the game a recordings folder holds: index.json's "game", else its first
    episode's ("unknown" for a folder without an index, e.g. plain VPT downloads)."""
    path = Path(folder) / INDEX_NAME
    if path.exists():
        try:
            game = json.loads(path.read_text()).get("game")
        except (json.JSONDecodeError, AttributeError):
            game = None
        if isinstance(game, str) and game:
            return game
    return list_episodes(folder)[0].game


def load_episode(folder: str | Path, info: EpisodeInfo | str, size: tuple[int, int] | None = None,
                 first: int | None = None) -> Episode:
    """Decode an episode and check that video and jsonl have the same number of frames.

    With `first`, only the episode's first `first` frames and records come back, and only they are
    decoded (a dream's opening needs 7 frames of a ~500-frame episode); the video must hold them,
    and neither its length nor the jsonl's past them is checked."""
    folder = Path(folder)
    check_episode_name(info if isinstance(info, str) else info.name)
    if isinstance(info, str):
        w, h, fps = probe_video(folder / f"{info}.mp4")
        info = EpisodeInfo(info, -1, w, h, fps, "unknown")
    video = folder / f"{info.name}.mp4"
    records = read_jsonl(folder / f"{info.name}.jsonl", limit=first)
    frames = decode_video(video, size=size, max_frames=first)
    if len(frames) != len(records):
        raise RecordingError(
            f"{video}: {len(frames)} video frames but {len(records)} jsonl lines "
            "(truncated video or jsonl?); refusing to misalign frames and actions"
        )
    if first is not None:
        return Episode(info, frames, records)
    if info.frames >= 0 and len(frames) != info.frames:
        raise RecordingError(f"{video}: index.json says {info.frames} frames, found {len(frames)}")
    if info.fps > 0:
        fps = probe_video(video)[2]
        if fps > 0 and abs(fps - info.fps) > 0.01 * info.fps:
            raise RecordingError(f"{video}: index.json says {info.fps:g} fps, the video has {fps:g} fps")
    return Episode(info, frames, records)
