"""Play a real game or its dream in a pygame window (`scripts/play.py`, `soraworld-play`)."""

from worldenv.play.config import PlayConfig

__all__ = ["PlayConfig"]
