"""The facts a Minetest caption states, for the DiT's caption tokens (`model.text.FactVocabulary`).

The recorder's captions (`caption.py`) name the biome, the ground under the player, the time of day
and the block under the crosshair; a person's prompt may say "a snowy pine forest at night". The
tables map both to the same facts: the light (one), and the landscape and the things in it (any).
The "holding ..." clause names the wielded item, not the scene, and is not read.
"""

from __future__ import annotations

from model.text import FactGroup, FactVocabulary

LIGHT = {
    "day": ("day", "daytime", "morning", "midday", "noon", "afternoon", "sunny", "bright"),
    "dusk": ("dawn", "dusk", "evening", "sunset", "sunrise", "twilight"),
    "night": ("night", "dark", "midnight", "nighttime", "darkness"),
}
LANDSCAPE = {
    "grass": ("grass", "grassland", "meadow", "meadows", "field", "fields", "plains", "deciduous"),
    "forest": ("forest", "forests", "woods", "trees", "tree", "trunk", "leaves", "coniferous", "taiga", "pine",
               "jungle", "rainforest", "aspen", "acacia"),
    "snow": ("snow", "snowy", "ice", "icy", "tundra", "glacier", "frozen", "cold"),
    "desert": ("desert", "dunes", "dune"),
    "sand": ("sand", "sandy", "beach", "shore"),
    "savanna": ("savanna", "dry"),
    "water": ("water", "lake", "river", "sea", "ocean", "pond", "swamp"),
    "stone": ("stone", "rock", "rocky", "cobble", "cliff", "mountain", "mountains", "gravel"),
    "dirt": ("dirt", "soil", "mud"),
    "lava": ("lava", "magma"),
    "ore": ("ore", "coal", "iron", "copper", "tin", "gold", "mese", "diamond"),
}
VIEW = {
    "sky": ("distance", "sky", "horizon"),
}

MINETEST_FACTS = FactVocabulary(
    [FactGroup("light", LIGHT, single=True), FactGroup("landscape", LANDSCAPE), FactGroup("view", VIEW)],
    skip_clauses=("holding",),  # what the player holds is not the scene
)
