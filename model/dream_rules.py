"""What a game may add to its dream: rules that keep part of the state and redraw it.

The world model knows nothing of any game. A game that knows its own rules (what an action does
to the inventory, when the night falls, which tiles never change) hands `DreamRollout` a
`DreamRules` object; the rollout calls it at fixed points of every step:

    reset(rows, frames, actions, seeds)   dreams `rows` start from clips (b, k, H, W, 3)
    model_frames(frames)                  real frames as the DiT is given them (e.g. in daylight)
    model_actions(actions)                the actions the DiT is given (e.g. a move refused in sleep)
    moves_refused(refused)                which moves the move gate kept the view still for
    __call__(actions, frames)             redraw the dreamed frames (b, H, W, 3); returns the frames
                                          the context keeps and the frames shown (they may differ)

After a step, `events` (the achievements each dream unlocked by the rules), `health_reward` (the
reward the rules pay besides them) and `dead` (episodes the rules end) say what happened; `None`
leaves that part to the world's heads. Every method has a neutral default, so a game implements
only what it keeps.
"""

from __future__ import annotations

import numpy as np


class DreamRules:
    """A game's rules applied to a batch of dreams (see module docstring). The base class keeps nothing."""

    #: names of the achievements the rules pay for (None: the world's heads name them)
    achievements: list[str] | None = None
    #: per dream, the achievements unlocked by the last step (None: read from the heads)
    events: list[list[str]] | None = None
    #: (b,) reward of the last step besides achievements (None: the heads' own)
    health_reward: np.ndarray | None = None
    #: (b,) bool, episodes the rules end (None: only the termination head ends them)
    dead: np.ndarray | None = None

    def reset(self, rows, frames: np.ndarray, actions: np.ndarray | None = None, seeds=None) -> None:
        """Dreams `rows` start from clips `frames` (len(rows), k, H, W, 3) reached by `actions`."""

    def model_frames(self, frames: np.ndarray) -> np.ndarray:
        """Real frames (..., H, W, 3) as the DiT is to see them."""
        return frames

    def model_actions(self, actions: np.ndarray) -> np.ndarray:
        """The actions (b, A) the DiT is given for the player's `actions`."""
        return actions

    def moves_refused(self, refused: np.ndarray | None) -> None:
        """(b,) bool: the moves the world's move gate kept the view still for (None: no gate)."""

    def __call__(self, actions: np.ndarray, frames: np.ndarray):
        """Redraw dreamed `frames` (b, H, W, 3) after the player's `actions` (b, A): returns the frames
        the context keeps, or (context frames, shown frames)."""
        return frames
