"""Captions -> condition tokens: a fact-level text encoder that is robust to paraphrases.

No pretrained text model can be downloaded here, and a text encoder learned from our own captions
would only know their exact wording. Instead the encoder reads the *facts* a recorded caption can
state (e.g. the light, the terrain in view, the creatures nearby) through synonym tables, so "a
dark forest with a lake" and the training caption "Night in trees. Also in view: water." give the
same tokens. Short prompts are thereby "expanded" into the training captions' content
(rule-based, as the Sora report does with a language model). Each fact is one token, one-hot over
the vocabulary (the DiT projects it), padded with zero vectors to `max_tokens`.

The tables are the game's (its plugin's `caption_vocabulary`); a world stores the vocabulary it
was trained with in its metadata ("caption_vocabulary"), so prompting a world needs no game.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class FactGroup:
    """One kind of fact: `name` (the token prefix), its facts' synonyms, and whether a caption states
    one of them at most (the first named; e.g. the light) or any number (sorted)."""

    name: str
    facts: dict[str, tuple[str, ...]]
    single: bool = False


class FactVocabulary:
    """The facts captions can state, in a fixed token order (see module docstring).

    `skip` lists sentence openings that describe something other than the scene (e.g. "inventory"):
    those sentences are not read; `skip_clauses` does the same for comma-separated clauses (e.g.
    "holding ...").
    """

    def __init__(self, groups: list[FactGroup], skip: tuple[str, ...] = (), skip_clauses: tuple[str, ...] = ()):
        self.groups, self.skip, self.skip_clauses = list(groups), tuple(skip), tuple(skip_clauses)
        self.tokens: tuple[str, ...] = tuple(f"{g.name}:{k}" for g in self.groups for k in g.facts)
        self._index = {t: i for i, t in enumerate(self.tokens)}
        self._words = [{w: k for k, words in g.facts.items() for w in words} for g in self.groups]

    def __len__(self) -> int:
        return len(self.tokens)

    def facts(self, text: str) -> list[str]:
        """The facts a caption or prompt states, as token names (single-fact groups first, in
        order, then the others' facts sorted). Raises ValueError for non-strings and over-long
        prompts."""
        if not isinstance(text, str):
            raise ValueError(f"caption must be a string, got {type(text).__name__}")
        if len(text) > MAX_PROMPT_CHARS:
            raise ValueError(f"caption has {len(text)} characters, at most {MAX_PROMPT_CHARS} allowed")
        sentences = [s for s in re.split(r"[.!?\n]", text.lower()) if not s.strip().startswith(self.skip)]
        if self.skip_clauses:
            sentences = [c for s in sentences for c in s.split(",") if not c.strip().startswith(self.skip_clauses)]
        words = re.findall(r"[a-z]+", " ".join(sentences))
        single, many = [], []
        for group, lookup in zip(self.groups, self._words, strict=True):
            if group.single:
                hit = next((lookup[w] for w in words if w in lookup), None)
                single += [f"{group.name}:{hit}"] if hit else []
            else:
                many += [f"{group.name}:{k}" for k in sorted({lookup[w] for w in words if w in lookup})]
        return single + many

    def ids(self, texts: list[str], max_tokens: int = 16) -> torch.Tensor:
        """Captions -> (b, max_tokens) int64 fact ids, -1 where padded (compact, for caches)."""
        out = torch.full((len(texts), max_tokens), -1, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self._index[f] for f in self.facts(text)[:max_tokens]]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        """(b, L) fact ids (-1 = pad) -> (b, L, len(self)) one-hot tokens (zero vectors for pads)."""
        tokens = torch.zeros(*ids.shape, len(self), device=ids.device)
        valid = ids >= 0
        tokens[valid] = torch.nn.functional.one_hot(ids[valid], len(self)).float()
        return tokens

    def encode(self, texts: list[str], max_tokens: int = 16) -> torch.Tensor:
        """Captions -> (b, max_tokens, len(self)) one-hot fact tokens, zero-padded."""
        return self.one_hot(self.ids(texts, max_tokens))

    # ------------------------------------------------------------------ stored with a world
    def to_dict(self) -> dict:
        """A JSON-able form (a world's meta "caption_vocabulary")."""
        return {"groups": [{"name": g.name, "single": g.single, "facts": {k: list(v) for k, v in g.facts.items()}}
                           for g in self.groups], "skip": list(self.skip), "skip_clauses": list(self.skip_clauses)}

    @classmethod
    def from_dict(cls, d: dict) -> "FactVocabulary":
        """The inverse of `to_dict`; a ValueError names what is malformed."""
        try:
            groups = [FactGroup(str(g["name"]), {str(k): tuple(str(w) for w in v) for k, v in g["facts"].items()},
                                bool(g.get("single", False))) for g in d["groups"]]
            return cls(groups, tuple(str(s) for s in d.get("skip", ())),
                       tuple(str(s) for s in d.get("skip_clauses", ())))
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed caption vocabulary ({e!r}): expected "
                             "{'groups': [{'name', 'facts', 'single'}], 'skip': [...]}") from None

    @classmethod
    def of_world(cls, meta: dict) -> "FactVocabulary":
        """The vocabulary a world was trained with (its meta "caption_vocabulary")."""
        d = meta.get("caption_vocabulary")
        if not d:
            raise ValueError("this world stores no caption vocabulary (meta 'caption_vocabulary'), so it cannot "
                             "read prompts; export it again with scripts/train_world.py or scripts/ship_world.py")
        return cls.from_dict(d)
