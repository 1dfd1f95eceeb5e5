"""Typed dataclass configs as command-line flags: one flag per field, `--batch-size` for `batch_size`."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add a flag per field of dataclass `cls` (bools get --x/--no-x, tuples take several values)."""
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        name = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            # An empty default ("same as another field") takes its element type from the annotation.
            elem = type(default[0]) if default else (int if "int" in str(f.type) else str)
            parser.add_argument(name, type=elem, nargs="+", default=default)
        elif default is None:
            # "float | None" and the like: parse as the annotation's type (None = not given)
            ann = str(f.type)
            kind = float if "float" in ann else int if "int" in ann else None
            parser.add_argument(name, default=None, **({"type": kind} if kind else {}))
        else:
            parser.add_argument(name, type=type(default), default=default)


def pop_dataclass(args: dict, cls):
    """Build `cls` from (and remove its fields from) a dict of parsed flags."""
    return cls(**{f.name: args.pop(f.name) for f in fields(cls) if f.name in args})


def parse_nested_config(doc: str, cls, nested: str, nested_cls, argv=None):
    """Parse flags for `cls` whose field `nested` is a `nested_cls` config (flags of both, flat)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_flags(p, cls, skip=(nested,))
    add_dataclass_flags(p, nested_cls)
    args = vars(p.parse_args(argv))
    inner = pop_dataclass(args, nested_cls)
    return cls(**args, **{nested: inner})
