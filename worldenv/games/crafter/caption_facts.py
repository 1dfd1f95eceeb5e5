"""The facts a Crafter caption states, for the DiT's caption tokens (`model.text.FactVocabulary`).

The synonym tables read the recorder's captions (`caption.py`) and a person's prompts alike: the
light, the terrain in view and the creatures nearby. The "Inventory" and "Health" sentences
describe the player, not the scene, and are not read. The token order is fixed: the shipped DiT's
caption weights are tied to it.
"""

from __future__ import annotations

from model.text import FactGroup, FactVocabulary

DAYLIGHT = {
    "day": ("day", "daytime", "morning", "noon", "sunny", "bright", "daylight", "afternoon"),
    "dusk": ("dusk", "evening", "sunset", "twilight", "dawn", "sunrise"),
    "night": ("night", "dark", "midnight", "nighttime", "darkness"),
    "asleep": ("asleep", "sleeping", "sleeps"),
}
TERRAIN = {
    "grass": ("grass", "grassland", "grasslands", "meadow", "meadows", "field", "fields", "plains", "prairie"),
    "tree": ("tree", "trees", "forest", "forests", "woods", "woodland", "jungle"),
    "water": ("water", "lake", "lakes", "river", "rivers", "sea", "pond", "ocean", "shore"),
    "sand": ("sand", "sandy", "beach", "desert", "dunes"),
    "stone": ("stone", "rock", "rocks", "rocky", "mountain", "mountains", "cliff", "cliffs"),
    "path": ("path", "paths", "cave", "caves", "tunnel", "tunnels"),
    "lava": ("lava", "magma"),
    "coal": ("coal",),
    "iron": ("iron",),
    "diamond": ("diamond", "diamonds"),
    "table": ("table", "workbench", "crafting"),
    "furnace": ("furnace", "smelter"),
}
CREATURES = {
    "cow": ("cow", "cows", "cattle"),
    "zombie": ("zombie", "zombies", "undead"),
    "skeleton": ("skeleton", "skeletons", "archer", "archers"),
    "plant": ("plant", "plants", "sapling", "saplings"),
}

CRAFTER_FACTS = FactVocabulary(
    [FactGroup("daylight", DAYLIGHT, single=True), FactGroup("terrain", TERRAIN), FactGroup("creature", CREATURES)],
    skip=("inventory", "health"),
)
