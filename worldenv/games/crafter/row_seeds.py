"""Per-dream random streams: the rules' draws (grain, saplings) reseeded when dreams restart."""

from __future__ import annotations

import numpy as np


def reseed_rows(rngs: list, rows: list, seeds) -> None:
    """Give dreams `rows` fresh generators from `seeds` (one per row; None keeps the streams going),
    so that a dream restarted with a seed draws the same as before, whatever ran in the rows
    around it."""
    if seeds is None:
        return
    if len(seeds) != len(rows):
        raise ValueError(f"need {len(rows)} seeds, got {len(seeds)}")
    for r, s in zip(rows, seeds, strict=True):
        rngs[r] = np.random.default_rng(int(s))
