"""Crafter (Hafner 2021), the 2D Minecraft-style benchmark, as a SoraWorld game plugin.

Modules: `env` (the real game, Gymnasium API), `recorder` and `caption` (recordings), `parse`
(frames back to tiles and inventory), and the dream rules: `ledger` (inventory, vitals, sleep),
`terrain` and `memory` (tiles that stay), `daylight` and `night` (the game's clock and darkness).
Nothing here is imported until the plugin is used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from worldenv.games.plugin import Controller, Game

# Crafter action name for each key name (pygame key names), as in crafter's own GUI.
KEYMAP = {
    "a": "move_left",
    "d": "move_right",
    "w": "move_up",
    "s": "move_down",
    "space": "do",
    "tab": "sleep",
    "r": "place_stone",
    "t": "place_table",
    "f": "place_furnace",
    "p": "place_plant",
    "1": "make_wood_pickaxe",
    "2": "make_stone_pickaxe",
    "3": "make_iron_pickaxe",
    "4": "make_wood_sword",
    "5": "make_stone_sword",
    "6": "make_iron_sword",
}
# The rules a Crafter dream can keep (`CrafterGame.make_rules`).
RULES = ("inventory", "terrain", "daylight", "attacks")


class CrafterController(Controller):
    """Crafter's keys: one action per tick, the key pressed since the last tick, else a held key,
    else noop."""

    def __init__(self):
        import pygame

        from worldenv.games.crafter.env import ACTION_NAMES

        pygame.init()  # key codes need it

        self.help = dict(KEYMAP)
        self.keys = {pygame.key.key_code(k): ACTION_NAMES.index(a) for k, a in KEYMAP.items()}
        self.names = list(ACTION_NAMES)

    def key_action(self, key: int) -> int | None:
        return self.keys.get(key)

    def action(self, held_keys, held_mouse, motion, pressed) -> int:
        if pressed is not None:
            return pressed
        for key in held_keys:
            if key in self.keys:
                return self.keys[key]
        return 0

    def describe(self, action) -> str:
        return self.names[int(action)]


class CrafterGame(Game):
    """Crafter: Discrete(17) actions, 72x72 frames for the shipped world (9x9 tiles of 8 px)."""

    name = "crafter"
    real_env_id = "SoraWorld/Crafter-v1"
    action_nvec = (17,)
    rule_names = RULES
    # the dream's default rules: the player's state, the terrain and the clock by the game's rules;
    # creatures' attacks stay off (the DiT seldom draws a hit to judge them by)
    default_rules = ("inventory", "terrain", "daylight")

    def make_real_env(self, size=None, **kwargs):
        import gymnasium as gym

        import worldenv  # noqa: F401 -- registers the id

        return gym.make(self.real_env_id, **({"size": tuple(size)} if size is not None else {}), **kwargs)

    def controller(self) -> Controller:
        return CrafterController()

    def action_names(self) -> list[str]:
        from worldenv.games.crafter.env import ACTION_NAMES

        return list(ACTION_NAMES)

    def record_episode(self, *args, **kwargs):
        from worldenv.games.crafter.recorder import record_crafter_episode

        return record_crafter_episode(*args, **kwargs)

    def frame_parser(self, size):
        from worldenv.games.crafter.parse import CrafterFrameParser

        return CrafterFrameParser(size=tuple(size))

    def caption_vocabulary(self):
        from worldenv.games.crafter.caption_facts import CRAFTER_FACTS

        return CRAFTER_FACTS

    def dream_info(self, frame: np.ndarray) -> dict:
        """The inventory the dreamed frame shows (read with the frame parser)."""
        from worldenv.games.crafter.parse import INVENTORY_ITEMS

        h, w = frame.shape[:2]
        if getattr(self, "_parser_size", None) != (w, h):
            self._parser, self._parser_size = self.frame_parser((w, h)), (w, h)
        counts = self._parser.inventory(frame)
        return {"inventory": {k: int(v) for k, v in zip(INVENTORY_ITEMS, counts, strict=True)}}

    def make_rules(self, names: Sequence[str], n: int, size):
        """"inventory" (`InventoryLedger`: inventory, health, hunger, thirst, fatigue and sleep by the
        game's rules, drawn on every frame; the achievements come from it), "terrain" (the tiles the
        DiT changes against the rules are put back; needs "inventory"), "attacks" (zombies, arrows
        and lava hurt by the rules; needs "inventory"), "daylight" (the day and night follow the
        game's clock: the DiT dreams day looks, shown darkened)."""
        names = self.check_rules(names)
        if ("terrain" in names or "attacks" in names) and "inventory" not in names:
            raise ValueError("the Crafter rules 'terrain' and 'attacks' work through 'inventory': add it")
        size = tuple(size)
        if "inventory" in names:
            from worldenv.games.crafter.ledger import InventoryLedger

            return InventoryLedger(n, size=size, keep_terrain="terrain" in names, attacks="attacks" in names,
                                   keep_daylight="daylight" in names)
        if "daylight" in names:
            from worldenv.games.crafter.daylight import CrafterClock

            return CrafterClock(n, size=size)
        return None

    def view_moves(self) -> list[tuple[int, int, int]]:
        """The four moves, one tile each: one latent cell where a tile is 8 px (72x72, 9x9 view)."""
        from worldenv.games.crafter.env import PLAYER_MOVES

        return [(a, dx, dy) for a, (dx, dy) in sorted(PLAYER_MOVES.items())]

    def view_rows(self, view) -> int:
        """The local view's tile rows: the view less crafter's inventory rows."""
        from worldenv.games.crafter.parse import inventory_rows

        return view[1] - inventory_rows(tuple(view))

    def reward_step(self) -> float:
        """Crafter pays health changes / 10, and health moves in whole points."""
        return 0.1


GAME = CrafterGame()
