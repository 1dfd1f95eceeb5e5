"""Captions of Minetest frames, written from the game's own state (the world mod's ground truth)."""

from __future__ import annotations

# Node names whose plain-English form reads better than the name's words.
NODE_WORDS = {
    "air": "air",
    "ignore": "unloaded terrain",
    "default:dirt_with_grass": "grass",
    "default:dirt_with_dry_grass": "dry grass",
    "default:dirt_with_snow": "snowy dirt",
    "default:dirt_with_rainforest_litter": "rainforest litter",
    "default:dirt_with_coniferous_litter": "coniferous litter",
    "default:dry_dirt_with_dry_grass": "dry grass",
    "default:water_source": "water",
    "default:water_flowing": "water",
    "default:river_water_source": "river water",
    "default:river_water_flowing": "river water",
    "default:lava_source": "lava",
    "default:lava_flowing": "lava",
    "default:tree": "a tree trunk",
    "default:jungletree": "a jungle tree trunk",
    "default:pine_tree": "a pine trunk",
    "default:acacia_tree": "an acacia trunk",
    "default:aspen_tree": "an aspen trunk",
}


def node_words(name: str | None) -> str:
    """A node's name in words: "default:desert_sand" -> "desert sand"."""
    if not name:
        return "nothing"
    if name in NODE_WORDS:
        return NODE_WORDS[name]
    base = name.split(":", 1)[-1]
    return base.replace("_", " ")


def item_words(name: str | None) -> str:
    """An item's name in words ("" -> "nothing")."""
    return node_words(name) if name else "nothing"


def time_words(time_of_day: float) -> str:
    """The part of the day of Minetest's clock (0 midnight, 0.5 noon; the sun is up 0.2 to 0.8)."""
    t = float(time_of_day) % 1.0
    if t < 0.19 or t >= 0.81:
        return "night"
    if t < 0.27:
        return "dawn"
    if t < 0.45:
        return "morning"
    if t < 0.55:
        return "midday"
    if t < 0.73:
        return "afternoon"
    return "dusk"


def clock(time_of_day: float) -> str:
    """"HH:MM" of the game's clock."""
    minutes = int(round((float(time_of_day) % 1.0) * 24 * 60)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def caption(state: dict) -> str:
    """One sentence of what the frame shows, from the mod's state: the biome and the ground under the
    player, the time of day, and the block under the crosshair with its distance.

    e.g. "Minetest, savanna: standing on dry grass at dawn (06:10), looking at a tree trunk 3.2 blocks away."
    """
    biome = state.get("biome")
    where = f"Minetest, {biome.replace('_', ' ')}" if biome else "Minetest"
    tod = state.get("time_of_day", 0.25)
    ground = state.get("ground")
    standing = "in the air" if ground in (None, "air") else (
        "in water" if "water" in (ground or "") else f"standing on {node_words(ground)}")
    text = f"{where}: {standing} at {time_words(tod)} ({clock(tod)})"
    pointed = state.get("pointed")
    if pointed:
        d = float(pointed.get("distance", 0.0))
        reach = ", within reach" if d <= 4.0 else ""
        text += f", looking at {node_words(pointed.get('node'))} {d:.1f} blocks away{reach}"
    else:
        text += ", looking at the open sky" if float(state.get("pitch", 0.0)) < 0 else ", looking into the distance"
    wielded = state.get("wielded")
    if wielded:
        text += f", holding {item_words(wielded)}"
    return text + "."
