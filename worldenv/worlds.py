"""World folders: where the shipped ones are, which game each simulates, and its dream rules.

A world folder holds `vae.safetensors`, `dit.safetensors` (whose metadata names the game) and
`start_bank.safetensors`. Shipped worlds live in `worldenv/worlds/<name>/` and are asked for by
name; any other folder by its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

WORLDS_DIR = Path(__file__).resolve().parent / "worlds"
DEFAULT_WORLD = "crafter72"
SHIPPED_WORLD = WORLDS_DIR / DEFAULT_WORLD


def shipped_worlds() -> list[str]:
    """Names of the worlds shipped with the package."""
    return sorted(p.name for p in WORLDS_DIR.iterdir() if (p / "dit.safetensors").exists())


def world_path(world: str | Path | None) -> Path:
    """The folder of `world`: a shipped world's name, a folder path, or None for the default."""
    if world is None or world == "":
        return SHIPPED_WORLD
    path = Path(world)
    if path.is_dir():
        return path
    if (WORLDS_DIR / str(world)).is_dir():
        return WORLDS_DIR / str(world)
    raise ValueError(f"world {str(world)!r} is neither a folder nor a shipped world "
                     f"({', '.join(shipped_worlds()) or 'none shipped'}); train one with scripts/train_world.py "
                     "(docs/training.md) or pass the folder of a trained world")


def world_frame_size(world: str | Path | None) -> tuple[int, int]:
    """(W, H) of the frames a world dreams, read from its start bank's header without loading
    the models: the real game must render at that size to be compared."""
    from safetensors import safe_open

    path = world_path(world) / "start_bank.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: not a world folder")
    with safe_open(str(path), "pt") as f:
        h, w = f.get_slice("frames").get_shape()[2:4]
    return int(w), int(h)


def load_world(world: str | Path | None, device: str = "cpu"):
    """Load a world (`world_path`) as a `model.rollout.WorldModel`."""
    from model.rollout import WorldModel

    return WorldModel.load(world_path(world), device=device)


def world_game(world):
    """The `Game` plugin a loaded world simulates (its meta "game"), or None where it names none."""
    from worldenv.games import get_game

    name = world.meta.get("game")
    return get_game(name) if name else None


def rule_names(game, rules: str | Sequence[str] | None) -> tuple[str, ...]:
    """`rules` as the names of the game's rules: "game" (its default rules), "none" (or None), or
    a list of names."""
    if rules is None or rules == "none":
        return ()
    if rules == "game":
        return tuple(game.default_rules) if game is not None else ()
    if isinstance(rules, str):
        raise ValueError(f"rules must be 'game', 'none' or a list of rule names, got {rules!r}")
    names = tuple(rules)
    if names and game is None:
        raise ValueError(f"rules {list(names)} asked for, but this world names no game (its meta has no 'game')")
    return game.check_rules(names) if game is not None else ()


def make_rules(world, n: int, rules: str | Sequence[str] | None = "game"):
    """The `DreamRules` for `n` dreams of a loaded world (see `rule_names`), or None."""
    game = world_game(world)
    if game is None and rules == "game":
        import warnings

        warnings.warn("this world names no game (its metadata has no 'game'), so it dreams without any game's rules; "
                      "a world exported before games were plugins can name its game with scripts/ship_world.py",
                      stacklevel=3)
    names = rule_names(game, rules)
    if not names:
        return None
    h, w = world.frame_shape[:2]
    return game.make_rules(names, n, (w, h))
