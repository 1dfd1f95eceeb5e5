"""Command-line helpers shared by the tools: the game's dream rules as a flag."""

from __future__ import annotations

from typing import Sequence

RULE_WORDS = ("game", "none")


def rules_from_flag(values: str | Sequence[str] | None) -> str | list[str] | None:
    """A rules flag's values (`nargs="+"`) as the dream envs and `worldenv.worlds.make_rules` take
    them: None (not given), "game", "none", or a list of rule names. "game" or "none" next to
    names is a ValueError."""
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    if len(values) == 1 and values[0] in RULE_WORDS:
        return values[0]
    if set(RULE_WORDS) & set(values):
        raise ValueError(f"rules are 'game', 'none' or rule names, not a mix: {values}")
    return values
