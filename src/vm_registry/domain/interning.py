"""Equal values held once: the strings and JSON values many entries repeat.

A fleet repeats itself. Thousands of VMs share a role, a status, a `registeredBy`, the same
services list and often the same metadata; decoded from each registration, every entry would
hold its own copy of each (about 740 bytes a VM in the benchmark fleet). Entries are immutable
values and nothing changes their services or metadata in place, so equal values can be one
object. Identity is never meaning here: sharing changes memory, not behaviour.

JSON values are matched by their encoding, so two dicts with the same keys in another order
stay apart (they render differently). The tables are bounded: past `MAX_SHARED` distinct
values they start afresh, so a fleet of all-different metadata costs a bounded table, not a
growing one.
"""

from __future__ import annotations

import sys
from typing import Any, Final, TypeVar

import orjson

MAX_SHARED: Final = 10_000

_json: dict[bytes, Any] = {}

T = TypeVar("T")


def text(value: str) -> str:
    return sys.intern(value)


def json_value(value: T) -> T:
    """An object equal to `value` (lists and dicts only), shared with every earlier equal one."""
    if not value or not isinstance(value, list | dict):
        return value
    key = orjson.dumps(value)
    found = _json.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if len(_json) >= MAX_SHARED:
        _json.clear()
    _json[key] = value
    return value
