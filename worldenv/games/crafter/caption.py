"""Descriptive captions of a Crafter state ("recaptioning", as in the Sora report).

Sora trains on detailed captions written by a captioner model. Here the game's privileged
state plays the captioner: every recorded frame gets a caption of the terrain in view,
daylight, creatures and placed objects nearby (with directions), the inventory and vitals.
The wording is fixed and factual so captions can be checked against generated frames.
"""

from __future__ import annotations

# Tiles of the 9x7 local view (for the default 9x9 view with two inventory rows).
TERRAIN_WORDS = {
    "grass": "grassland",
    "tree": "trees",
    "water": "water",
    "sand": "sand",
    "stone": "stone",
    "path": "cave paths",
    "lava": "lava",
    "coal": "coal ore",
    "iron": "iron ore",
    "diamond": "diamonds",
    "table": "a crafting table",
    "furnace": "a furnace",
}
CREATURES = ("cow", "zombie", "skeleton", "plant", "arrow")


def daylight_phrase(daylight: float, sleeping: bool = False) -> str:
    """Bucket crafter's daylight in [0, 1] into words that can be checked in pixels."""
    if sleeping:
        return "asleep"
    if daylight > 0.7:
        return "day"
    if daylight > 0.35:
        return "dusk"
    return "night"


def direction_word(dx: int, dy: int) -> str:
    """Screen direction of an offset in tiles (+x right, +y down)."""
    if dx == 0 and dy == 0:
        return "here"
    vertical = "above" if dy < 0 else "below" if dy > 0 else ""
    horizontal = "left" if dx < 0 else "right" if dx > 0 else ""
    if abs(dx) > 2 * abs(dy):
        vertical = ""
    elif abs(dy) > 2 * abs(dx):
        horizontal = ""
    return "-".join(w for w in (vertical, horizontal) if w)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def caption_from_game(env) -> str:
    """Caption the current state of a `crafter.Env` (uses its world, player and view)."""
    world, player = env._world, env._player
    view_w, view_h = int(env._view[0]), int(env._view[1]) - 2  # local view above 2 item rows
    cx, cy = int(player.pos[0]), int(player.pos[1])
    x0, y0 = cx - view_w // 2, cy - view_h // 2
    counts: dict[str, int] = {}
    for x in range(x0, x0 + view_w):
        for y in range(y0, y0 + view_h):
            material, _ = world[(x, y)]
            if material is not None:
                counts[material] = counts.get(material, 0) + 1
    total = max(1, sum(counts.values()))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    main = [TERRAIN_WORDS.get(m, m) for m, n in ranked if n / total >= 0.15][:3] or [
        TERRAIN_WORDS.get(ranked[0][0], ranked[0][0])
    ]
    minor = [TERRAIN_WORDS.get(m, m) for m, n in ranked if 0 < n / total < 0.15]

    creatures: list[str] = []
    for obj in world.objects:
        kind = type(obj).__name__.lower()
        if kind not in CREATURES:
            continue
        dx, dy = int(obj.pos[0]) - cx, int(obj.pos[1]) - cy
        if abs(dx) <= view_w // 2 and abs(dy) <= view_h // 2:
            creatures.append(f"a {kind} {direction_word(dx, dy)}")

    phase = daylight_phrase(float(world.daylight), bool(player.sleeping))
    facing = {(-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down"}[tuple(int(f) for f in player.facing)]
    parts = [f"{phase.capitalize() if phase != 'asleep' else 'Asleep'} in {_join(main)}."]
    if minor:
        parts.append(f"Also in view: {_join(minor)}.")
    parts.append(f"Nearby: {_join(creatures)}." if creatures else "No creatures nearby.")
    parts.append(f"The player faces {facing}.")
    vitals = ("health", "food", "drink", "energy")
    items = [f"{n} {k.replace('_', ' ')}" for k, n in player.inventory.items() if k not in vitals and n > 0]
    parts.append(f"Inventory: {_join(items)}." if items else "Inventory: empty.")
    parts.append(", ".join(f"{k} {int(player.inventory[k])}/9" for k in vitals).capitalize() + ".")
    return " ".join(parts)

