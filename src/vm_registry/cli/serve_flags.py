"""`vm-registry serve`'s flags, built from the settings' declarations in `settings.py`, and the
typed `Settings` built back from what argparse parsed. Nothing here names a setting: a new one
is a field in `settings.py`, and appears in `serve --help` and the README (ops/settings_table.py).

The flag wins over the environment, and the environment over the default. An environment value
is handed to argparse as its default wrapped in `FromEnvironment`, so argparse leaves it alone,
and `settings_from_flags` judges it: only `serve` refuses a malformed one (every subcommand's
parser is built at startup), in one line that names the variable, with exit status 2, as
argparse does a malformed flag. argparse would have named the flag, printed its whole usage,
and checked neither a choice (`VM_REGISTRY_LOG_LEVEL=loud` was a traceback) nor a switch's word
(`VM_REGISTRY_EXPIRY_GUARD=false` left the guard on).

How a declaration becomes an argument: a `bool` is a switch (`--flag` turns on a setting that is
off by default; a setting on by default is turned off by its flag, and by its environment twin
set to `off`, `0`, `false` or `no`; `on`, `1`, `true` and `yes` turn one on, any other word is
refused); a `float` must be a finite number (`nan` passed every check); a `tuple[str, ...]` is
repeatable, its environment twin comma-separated, and given flags add to it; anything else
takes one value of the field's type (`X | None`: of X).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Union, get_args, get_origin

from vm_registry.settings import Declared, Settings, declared

Kind = Literal["value", "list", "on", "off"]
ROWS = declared()


def kind_of(row: Declared) -> Kind:
    if row.type is bool:
        return "off" if row.default else "on"
    if get_origin(row.type) is tuple:
        return "list"
    return "value"


ON = ("on", "1", "true", "yes")
OFF = ("off", "0", "false", "no")


@dataclass(frozen=True, slots=True)
class FromEnvironment:
    """An environment twin's text, as argparse's default: judged by `settings_from_flags`."""

    name: str
    text: str


def _lower(text: str) -> str:
    return text.lower()


def _optional_text(text: str) -> str | None:
    return text or None


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def value_type(row: Declared) -> Callable[[str], Any]:
    """What turns the text of a flag (or its environment twin) into the setting's value."""
    if row.spec.choices is not None:
        return _lower
    base: Any = row.type
    if get_origin(base) in (Union, types.UnionType):
        base = next(arg for arg in get_args(base) if arg is not type(None))
        if base is str:
            return _optional_text
    if get_origin(base) is tuple:
        return str
    if base is float:
        return _number
    converter: Callable[[str], Any] = base
    return converter


def shown_default(row: Declared) -> str | None:
    """The default as `--help` and the README say it; None when there is nothing to say."""
    if row.spec.shown is not None:
        return row.spec.shown
    value = row.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return None
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def help_text(row: Declared) -> str:
    if row.spec.internal:
        return argparse.SUPPRESS
    repeatable = "repeatable" if kind_of(row) == "list" else None
    notes = [note for note in (repeatable, row.env, _default_note(row)) if note]
    text = f"{row.spec.help} ({'; '.join(notes)})" if notes else row.spec.help
    return text.replace("%", "%%")  # argparse formats help with %


def _default_note(row: Declared) -> str | None:
    shown = shown_default(row)
    return f"default: {shown}" if shown is not None else None


def _env_default(row: Declared, kind: Kind) -> Any:
    raw = os.environ.get(row.env) if row.env else None
    if raw is None or raw == "" or row.env is None:
        return [] if kind == "list" else row.default
    if kind == "list":
        return [part for part in raw.split(",") if part]
    return FromEnvironment(row.env, raw)


def add_flags(parser: argparse.ArgumentParser, rows: tuple[Declared, ...] = ROWS) -> None:
    groups: dict[str | None, Any] = {None: parser}
    for row in rows:
        if row.flag is None:
            continue
        if row.spec.group not in groups:
            groups[row.spec.group] = parser.add_argument_group(row.spec.group)
        target = groups[row.spec.group]
        kind = kind_of(row)
        options: dict[str, Any] = {
            "dest": row.name,
            "default": _env_default(row, kind),
            "help": help_text(row),
        }
        if kind == "on":
            target.add_argument(row.flag, action="store_true", **options)
        elif kind == "off":
            target.add_argument(row.flag, action="store_false", **options)
        else:
            if kind == "list":
                options["action"] = "append"
            options["type"] = value_type(row)
            if row.spec.metavar is not None:
                options["metavar"] = row.spec.metavar
            elif row.type is int:
                options["metavar"] = "N"
            if row.spec.choices is not None:
                options["choices"] = row.spec.choices
            target.add_argument(row.flag, **options)


def environment_only(rows: tuple[Declared, ...] = ROWS) -> str:
    """The settings read from the environment alone, for the end of `serve --help`."""
    lines = [f"  {row.env}: {row.spec.help}" for row in rows if row.flag is None]
    return "environment only (secrets: a flag would show in ps):\n" + "\n".join(lines)


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "positive": (lambda value: value > 0, "must be positive"),
    "at least 1": (lambda value: value >= 1, "must be at least 1"),
    "not negative": (lambda value: value >= 0, "must not be negative"),
    "a port": (lambda value: 0 <= value <= 65535, "must be a port, 0 to 65535"),
    "a share": (lambda value: 0 < value <= 1, "must be a share, above 0 and at most 1"),
}


def settings_from_flags(args: argparse.Namespace, rows: tuple[Declared, ...] = ROWS) -> Settings:
    """`Settings` from `serve`'s parsed flags (and the environment, for the settings without a
    flag); a value its declaration does not allow stops `serve` with a message."""
    values: dict[str, Any] = {}
    for row in rows:
        if row.flag is None:
            values[row.name] = (os.environ.get(row.env) if row.env else None) or row.default
            continue
        value = getattr(args, row.name)
        source = str(row.flag)
        if isinstance(value, FromEnvironment):
            source = f"{value.name} (the environment twin of {row.flag})"
            value = _from_environment(row, value)
        if kind_of(row) == "list":
            value = tuple(part.strip() for part in value if part.strip()) or row.default
        if row.spec.check is not None and value is not None:
            allowed, message = _CHECKS[row.spec.check]
            if not allowed(value):
                refuse(f"{source} {message}")
        values[row.name] = value
    return Settings(**values)


def _from_environment(row: Declared, given: FromEnvironment) -> Any:
    where = f"{given.name}={given.text!r}"
    if kind_of(row) in ("on", "off"):
        word = given.text.strip().lower()
        if word not in ON + OFF:
            refuse(f"{where} is neither on ({', '.join(ON)}) nor off ({', '.join(OFF)})")
        return word in ON
    try:
        value = value_type(row)(given.text)
    except argparse.ArgumentTypeError as error:
        refuse(f"{given.name}: {error}")
    except ValueError as error:
        numbers = {int: "an integer", int | None: "an integer", float: "a number"}
        what = numbers.get(row.type)
        refuse(f"{where} is not {what}" if what else f"{given.name}: {error}")
    if row.spec.choices is not None and value not in row.spec.choices:
        refuse(f"{where} is not one of {', '.join(row.spec.choices)}")
    return value


def refuse(message: str) -> NoReturn:
    """A setting `serve` cannot start with: one line, and exit status 2, as argparse's own."""
    print(f"vm-registry serve: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
