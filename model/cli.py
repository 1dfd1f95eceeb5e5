"""Typed dataclass configs as command-line flags and recipe files.

One flag per field (`--batch-size` for `batch_size`), and `--config FILE`: a TOML recipe (read with
the standard library's `tomllib`) whose keys are the same fields. The file sets the defaults and
flags given on the command line override it, so a recipe can be rerun with one thing changed:

    python scripts/train_world.py --config configs/<world>/dit_4_attempts.toml --steps 100

A config with a nested dataclass (e.g. the world trainer's `flow`) takes that one's fields as flat
flags and, in a file, as a table of its own (`[flow]`). Unknown keys and values of the wrong type
are refused with the file and key named, so a typo never silently trains something else.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A recipe file that cannot be read into its config: unknown keys, wrong types, bad TOML."""


def _default(f) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


def add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add a flag per field of dataclass `cls` (bools get --x/--no-x, tuples take several values)."""
    for f in fields(cls):
        if f.name in skip:
            continue
        default = _default(f)
        name = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            # An empty default ("same as another field") takes its element type from the annotation.
            elem = type(default[0]) if default else (int if "int" in str(f.type) else str)
            parser.add_argument(name, type=elem, nargs="+", default=default)
        elif default is None and "tuple" in str(f.type):
            # "tuple[int, int] | None": several values (None = not given)
            elem = float if "float" in str(f.type) else int if "int" in str(f.type) else str
            parser.add_argument(name, type=elem, nargs="+", default=None)
        elif default is None:
            # "float | None" and the like: parse as the annotation's type (None = not given)
            ann = str(f.type)
            kind = float if "float" in ann else int if "int" in ann else None
            parser.add_argument(name, default=None, **({"type": kind} if kind else {}))
        else:
            parser.add_argument(name, type=type(default), default=default)


def pop_dataclass(args: dict, cls):
    """Build `cls` from (and remove its fields from) a dict of parsed flags."""
    def value(v):
        return tuple(v) if isinstance(v, list) else v  # several values given as a flag: a tuple

    return cls(**{f.name: value(args.pop(f.name)) for f in fields(cls) if f.name in args})


def _coerce(f, value, where: str):
    """A TOML value for field `f` as the field's type (ints are floats where a float is wanted,
    lists are tuples); anything else is a ConfigError naming `where`."""
    default = _default(f)

    def bad(want: str):
        return ConfigError(f"{where}: want {want}, got {value!r} ({type(value).__name__})")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise bad("a list")
        elem = type(default[0]) if default else (int if "int" in str(f.type) else str)
        if elem is float and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        if not all(isinstance(v, elem) and not isinstance(v, bool) for v in value):
            raise bad(f"a list of {elem.__name__}")
        return tuple(value)
    if default is None:  # "float | None" and the like: the annotation's type
        ann = str(f.type)
        if "tuple" in ann:  # "tuple[int, int] | None": a list of the element type
            elem = float if "float" in ann else int if "int" in ann else str
            if not isinstance(value, list) or not all(
                    isinstance(v, (int, float) if elem is float else elem) and not isinstance(v, bool) for v in value):
                raise bad(ann)
            return tuple(elem(v) for v in value)
        if "float" in ann and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if "int" in ann and isinstance(value, int) and not isinstance(value, bool):
            return value
        if "str" in ann and isinstance(value, str):
            return value
        raise bad(ann)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if not isinstance(value, type(default)):
        raise bad(type(default).__name__)
    return value


def _fields_from(table: dict, cls, where: str, nested: dict[str, type] | None = None) -> dict:
    """{field: value} of `cls` from a TOML table; `nested` maps a field to its dataclass (a sub-table)."""
    nested = nested or {}
    by_name = {f.name: f for f in fields(cls)}
    inner_owner = {f.name: n for n, c in nested.items() for f in fields(c)}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in nested:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: `{key}` must be a table ([{key}]) of {nested[key].__name__} fields")
            out[key] = _fields_from(value, nested[key], f"{where} [{key}]")
        elif key in by_name:
            out[key] = _coerce(by_name[key], value, f"{where}: `{key}`")
        elif key in inner_owner:
            raise ConfigError(f"{where}: `{key}` is a {nested[inner_owner[key]].__name__} field: put it in the "
                              f"[{inner_owner[key]}] table")
        else:
            known = ", ".join(sorted(by_name))
            raise ConfigError(f"{where}: unknown key `{key}` for {cls.__name__} (known: {known})")
    return out


def read_config_file(path: str | Path, cls, nested: dict[str, type] | None = None) -> dict:
    """The fields a TOML recipe sets, as {field: value} (and {nested field: {field: value}})."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10 has no tomllib; tomli is the same parser
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("reading a TOML recipe needs Python >= 3.11 (tomllib) or `pip install tomli`") from None
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    return _fields_from(table, cls, str(path), nested)


def load_config(path: str | Path, cls, nested: dict[str, type] | None = None):
    """A config dataclass from a TOML recipe: the file's keys over the defaults."""
    values = read_config_file(path, cls, nested)
    for name, inner in (nested or {}).items():
        values[name] = inner(**values.get(name, {}))
    return cls(**values)


def parse_config(doc: str, cls, argv=None, nested: dict[str, type] | None = None):
    """Parse `argv` into `cls`: `--config FILE` (a TOML recipe) sets the defaults, then every field's
    flag overrides it; the fields of `nested` dataclasses are flat flags too."""
    nested = nested or {}
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default="")
    known, _ = pre.parse_known_args(argv)
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="", metavar="FILE",
                   help="a TOML recipe (configs/<world>/*.toml): its keys set the defaults, flags override them")
    add_dataclass_flags(p, cls, skip=tuple(nested))
    for inner in nested.values():
        add_dataclass_flags(p, inner)
    if known.config:
        try:
            values = read_config_file(known.config, cls, nested)
        except ConfigError as e:
            raise SystemExit(f"error: {e}") from None
        flat = {k: v for k, v in values.items() if k not in nested}
        for name in nested:
            flat.update(values.get(name, {}))
        p.set_defaults(**flat)
    args = vars(p.parse_args(argv))
    args.pop("config")
    inner_values = {name: pop_dataclass(args, inner) for name, inner in nested.items()}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}, **inner_values)


def parse_nested_config(doc: str, cls, nested: str, nested_cls, argv=None):
    """Parse flags (and `--config`) for `cls` whose field `nested` is a `nested_cls` config."""
    return parse_config(doc, cls, argv, {nested: nested_cls})


# Errors that mean bad input (a recording, checkpoint, recipe, flag value or path), not a bug: the
# command line prints their message alone. RecordingError, CheckpointError and ConfigError are
# ValueErrors; FloatingPointError is a dream gone non-finite (a corrupt world).
INPUT_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
                FloatingPointError)


def command_line(main):
    """Decorate a tool's `main(argv=None, ...)`: called as a command (argv None: `sys.argv`, as a
    script or an installed entry point does), an error from bad input (`INPUT_ERRORS`) prints one
    line, `error: <message>`, and exits 1, with the full traceback only under `--debug`; the
    result is not returned (an entry point would print it as an exit status). Called with an
    argv list (from Python, tests), `main` runs as it is: its errors propagate and it returns."""
    import functools
    import sys

    @functools.wraps(main)
    def wrapper(argv=None, *args, **kwargs):
        if argv is not None:
            return main(argv, *args, **kwargs)
        argv = sys.argv[1:]
        debug = "--debug" in argv
        argv = [a for a in argv if a != "--debug"]
        try:
            main(argv, *args, **kwargs)
        except INPUT_ERRORS as e:
            if debug:
                raise
            message = " ".join(str(e).split()) or type(e).__name__
            print(f"error: {message} (--debug shows the traceback)", file=sys.stderr)
            raise SystemExit(1) from None

    wrapper.command_line = True  # tests check that every script's main has it
    return wrapper
