"""Captions -> condition tokens: a fact-level text encoder that is robust to paraphrases.

No pretrained text model can be downloaded here, and a text encoder learned from our own captions
would only know their exact wording. Instead the encoder reads the *facts* a recorded caption can
state (daylight, terrain in view, creatures nearby) through synonym tables, so "a dark forest with
a lake" and the training caption "Night in trees. Also in view: water." give the same tokens.
Short prompts are thereby "expanded" into the training captions' content (rule-based, as the Sora
report does with a language model). Each fact is one token, one-hot over `VOCAB` (the DiT projects
it), padded with zero vectors to `max_tokens`.
"""

from __future__ import annotations

import re

import torch

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
VOCAB: tuple[str, ...] = tuple(
    [f"daylight:{k}" for k in DAYLIGHT] + [f"terrain:{k}" for k in TERRAIN] + [f"creature:{k}" for k in CREATURES]
)
_INDEX = {t: i for i, t in enumerate(VOCAB)}
MAX_PROMPT_CHARS = 2000


def _lookup(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {word: key for key, words in table.items() for word in words}


_DAY, _TERRAIN, _CREATURE = _lookup(DAYLIGHT), _lookup(TERRAIN), _lookup(CREATURES)


def caption_facts(text: str) -> list[str]:
    """The facts a caption or prompt states, as VOCAB entries (daylight first, then sorted).

    The "Inventory:" and vitals sentences of our captions are skipped: they describe the player,
    not the scene. Raises ValueError for non-strings and over-long prompts.
    """
    if not isinstance(text, str):
        raise ValueError(f"caption must be a string, got {type(text).__name__}")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"caption has {len(text)} characters, at most {MAX_PROMPT_CHARS} allowed")
    sentences = [s for s in re.split(r"[.!?\n]", text.lower()) if not s.strip().startswith(("inventory", "health"))]
    words = re.findall(r"[a-z]+", " ".join(sentences))
    daylight = next((_DAY[w] for w in words if w in _DAY), None)
    terrain = sorted({_TERRAIN[w] for w in words if w in _TERRAIN})
    creatures = sorted({_CREATURE[w] for w in words if w in _CREATURE})
    facts = ([f"daylight:{daylight}"] if daylight else []) + [f"terrain:{t}" for t in terrain]
    return facts + [f"creature:{c}" for c in creatures]


def caption_ids(texts: list[str], max_tokens: int = 16) -> torch.Tensor:
    """Captions -> (b, max_tokens) int64 fact ids, -1 where padded (compact, for caches)."""
    out = torch.full((len(texts), max_tokens), -1, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [_INDEX[f] for f in caption_facts(text)[:max_tokens]]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def ids_to_tokens(ids: torch.Tensor) -> torch.Tensor:
    """(b, L) fact ids (-1 = pad) -> (b, L, len(VOCAB)) one-hot tokens (zero vectors for pads)."""
    tokens = torch.zeros(*ids.shape, len(VOCAB), device=ids.device)
    valid = ids >= 0
    tokens[valid] = torch.nn.functional.one_hot(ids[valid], len(VOCAB)).float()
    return tokens


def encode_captions(texts: list[str], max_tokens: int = 16) -> torch.Tensor:
    """Captions -> (b, max_tokens, len(VOCAB)) one-hot fact tokens, zero-padded."""
    return ids_to_tokens(caption_ids(texts, max_tokens))
