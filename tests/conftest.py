"""Shared test setup: headless pygame and the repo on sys.path (for scripts/)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402

# Tests use tiny tensors: one thread avoids OpenMP spin-waiting (and oversubscription on a busy box).
torch.set_num_threads(1)
