"""Where a loop stands: the iteration, the phases done, and the curve so far, in
`<out>/loop_state.json`, rewritten atomically after every phase so a killed loop resumes at the
phase it was in."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.recordings import atomic_write_text

PHASES = ("collect", "world", "dream", "score")
STATE_NAME = "loop_state.json"


@dataclass
class LoopState:
    """The loop's progress: `done[i]` lists the phases iteration i finished; `seconds[i][phase]` is
    the wall time each took (for a phase cut and resumed, only the attempt that finished it);
    `curve` has one row per scored iteration (real steps, Crafter score, ...)."""

    iteration: int = 0
    real_steps: int = 0  # collected by the loop so far
    done: dict[str, list[str]] = field(default_factory=dict)
    curve: list[dict] = field(default_factory=list)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    init_steps: int | None = None  # the init policy's PPO steps, read once when the loop took it up

    def finished(self, i: int, phase: str) -> bool:
        return phase in self.done.get(str(i), [])

    def mark(self, i: int, phase: str, out: Path, seconds: float | None = None) -> None:
        """Record that iteration i finished `phase` (in `seconds` of wall time) and save the state."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; the loop's phases are {PHASES}")
        self.done.setdefault(str(i), [])
        if phase not in self.done[str(i)]:
            self.done[str(i)].append(phase)
        if seconds is not None:
            self.seconds.setdefault(str(i), {})[phase] = round(seconds, 1)
        self.save(out)

    def save(self, out: Path) -> None:
        atomic_write_text(Path(out) / STATE_NAME, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, out: Path) -> LoopState:
        """The saved state of the loop in `out` (a fresh one where there is none)."""
        path = Path(out) / STATE_NAME
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path}: not a loop state ({e}); move it aside to start the loop again") from None
