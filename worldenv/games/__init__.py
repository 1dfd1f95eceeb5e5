"""The ground-truth games, each a plugin folder behind `worldenv.games.plugin.Game`.

`get_game(name)` imports a plugin only when it is asked for, so importing this package pulls in
no game's dependencies.
"""

from __future__ import annotations

from importlib import import_module

from worldenv.games.plugin import Controller, Game

# name -> "module:attribute" of the plugin instance
GAMES = {
    "crafter": "worldenv.games.crafter:GAME",
    "minecraft": "worldenv.games.minecraft:GAME",
    "minerl": "worldenv.games.minecraft:GAME",  # the name MineRL recordings' index.json gives
    "minetest": "worldenv.games.minetest:GAME",
}


def get_game(name: str) -> Game:
    """The plugin of the game called `name` (a ValueError naming the known games otherwise)."""
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}; known games: {', '.join(GAMES)}")
    module, attr = GAMES[name].split(":")
    return getattr(import_module(module), attr)


__all__ = ["GAMES", "Controller", "Game", "get_game"]
