"""The one interface every ground-truth game implements: `Game`.

The generic model, rollout, env, trainer and play loop name no game. Whatever they need to know
about one, they ask its plugin, found by name (`worldenv.games.get_game`): a world folder's
metadata and a recordings folder's `index.json` both carry a "game" field.

A plugin says:
- the real game: its registered env id and how to make it at a frame size;
- its actions: the action space's part sizes (the DiT's action-token layout) and their names;
- how a person plays it (`controller`: keys, mouse -> actions);
- how it is recorded (`record_episode`);
- optionally, how its frames are read (`frame_parser`) and what a dream shows besides the frame
  (`dream_info`);
- optionally, its dream rules (`make_rules`: a `model.dream_rules.DreamRules`, by rule names);
- optionally, the view moves of its actions for a DiT that sees the previous frame moved
  (`view_moves`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np


class Controller(ABC):
    """Turns what a person holds on the keyboard and mouse into one action of a game."""

    #: key name -> what it does, for the play window's help screen
    help: dict[str, str]
    #: whether the mouse turns the camera (the play window then grabs it in relative mode)
    mouse_look: bool = False

    def binds(self, key: int) -> bool:
        """Whether the game uses pygame key `key` (the play window then leaves it to the game)."""
        return key in getattr(self, "keys", {})

    @abstractmethod
    def key_action(self, key: int) -> Any | None:
        """The action a pygame key code triggers on its own when pressed (None: not a game key).
        Discrete games take the key pressed since the last tick as the tick's action."""

    @abstractmethod
    def action(self, held_keys: set, held_mouse: set, motion: tuple[float, float], pressed: Any | None):
        """The tick's action: from the keys and mouse buttons held, the mouse motion since the last
        tick (pixels) and the action of the key pressed since the last tick (`key_action`)."""

    def describe(self, action) -> str:
        """The action in words, for the play window's HUD."""
        return str(np.asarray(action).tolist())


class Game(ABC):
    """A ground-truth game behind SoraWorld (see module docstring)."""

    #: the name world folders and recordings give (meta / index.json "game")
    name: str
    #: the Gymnasium id of the real game
    real_env_id: str
    #: the action space's part sizes: (n,) for Discrete(n), else MultiDiscrete(nvec)
    action_nvec: tuple[int, ...]
    #: the names of the rules `make_rules` knows, and the ones `rules="game"` picks
    rule_names: tuple[str, ...] = ()
    default_rules: tuple[str, ...] = ()
    #: the ticks per second the game is played and recorded at (the play window's default --fps)
    fps: float = 10.0

    @abstractmethod
    def make_real_env(self, size: tuple[int, int] | None = None, **kwargs):
        """The real game as a Gymnasium env rendering (W, H) frames (its default size for None)."""

    @abstractmethod
    def controller(self) -> Controller:
        """The play keymap (needs pygame)."""

    def noop_action(self) -> np.ndarray:
        """(parts,) int64: the action that does nothing (the player standing still), e.g. for the frames
        of a still image a dream starts from. All zeros unless a part's "nothing" is another value."""
        return np.zeros(len(self.action_nvec), np.int64)

    def action_names(self) -> list[str]:
        """A name per action part, for help screens and logs."""
        return [f"part{i}" for i in range(len(self.action_nvec))]

    def record_episode(self, *args, **kwargs):
        """Play one episode with a policy and write it as a recording (mp4 + jsonl)."""
        raise NotImplementedError(f"{self.name} has no recorder")

    def frame_parser(self, size: tuple[int, int]):
        """A reader of the game's frames at (W, H) (tile classes, inventory), or None."""
        return None

    def caption_vocabulary(self):
        """The facts its captions state (a `model.text.FactVocabulary`), or None: no captions."""
        return None

    def dream_info(self, frame: np.ndarray) -> dict:
        """What `DreamEnv`'s info adds for a dreamed frame (H, W, 3) (e.g. the inventory it shows)."""
        return {}

    def make_rules(self, names: Sequence[str], n: int, size: tuple[int, int]):
        """The `DreamRules` for `n` dreams of (W, H) frames with the rules `names` (checked by
        `check_rules`), or None for no rules."""
        if names:
            raise ValueError(f"{self.name} has no dream rules; got {list(names)}")
        return None

    def check_rules(self, names: Sequence[str]) -> tuple[str, ...]:
        """`names` as a tuple, or a ValueError naming the unknown ones and the known."""
        names = tuple(dict.fromkeys(names))
        unknown = [r for r in names if r not in self.rule_names]
        if unknown:
            known = ", ".join(self.rule_names) or "none"
            raise ValueError(f"unknown dream rules {unknown} for {self.name}; it knows: {known}")
        return names

    def view_moves(self) -> list[tuple[int, int, int]]:
        """(action, dx, dy) of each action that moves the view by one latent cell (empty: none)."""
        return []

    def view_rows(self, view: tuple[int, int]) -> int | None:
        """Of a recording's tile view (cols, rows), the rows the moving view covers (the rest is a
        fixed overlay); None where the game has no tile view."""
        return None

    def reward_step(self) -> float | None:
        """The grid the game's non-achievement rewards lie on (the heads' regression is rounded to
        it), or None."""
        return None
