"""What the parts of a Crafter dream's rules share: the game's action names, the player's four
facings, and the parser's tile templates split into the object drawn and the ground below it."""

from __future__ import annotations

import numpy as np
from crafter import constants

from worldenv.games.crafter.parse import CrafterFrameParser, template_parts

ACTIONS: tuple[str, ...] = tuple(constants.actions)
ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)  # the events `InventoryLedger.step` names
NOOP, SLEEP = ACTIONS.index("noop"), ACTIONS.index("sleep")
FACING = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}  # (dx, dy)
SIDE = {v: k for k, v in FACING.items()}
# (dx, dy) of each action: the move's direction, (0, 0) for the actions that are not moves
_MOVE = np.array([FACING[a[len("move_"):]] if a.startswith("move_") else (0, 0) for a in ACTIONS])
IS_MOVE = np.array([a.startswith("move_") for a in ACTIONS])


def action_moves(actions) -> np.ndarray:
    """(n, 2) int64 (dx, dy) of each of the actions (n,): a move's direction, (0, 0) for the other
    actions and for the unknown ones (outside [0, 17), as -1 in a clip's first step)."""
    a = np.asarray(actions, np.int64).reshape(-1)
    known = (a >= 0) & (a < len(ACTIONS))
    return np.where(known[:, None], _MOVE[np.where(known, a, 0)], 0)


class ViewTiles:
    """The parser's tile templates by part, for the rules to read a local view (`templates`
    (rows, cols) of template indices): `object[k]` the texture template k draws over its ground
    ("" for a bare material), `ground[k]` that ground, `index[name]` the template of a name
    ("object/ground" or "ground"), `centre` the player's (row, col) in the view."""

    def __init__(self, parser: CrafterFrameParser):
        self.names = parser.template_names
        self.object, self.ground = template_parts(self.names)
        self.index = {name: k for k, name in enumerate(self.names)}
        self.centre = (parser.rows // 2, parser.cols // 2)
