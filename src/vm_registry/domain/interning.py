"""Equal values held once: the strings and JSON values many entries repeat.

A fleet repeats itself. Thousands of VMs share a role, a status, a `registeredBy`, the same
services list and often the same metadata; decoded from each registration, every entry would
hold its own copy of each (about 740 bytes a VM in the benchmark fleet). Entries are immutable
values and nothing changes their services or metadata in place, so equal values can be one
object. Identity is never meaning here: sharing changes memory, not behaviour, so a fold with
any table, or none, gives the same state.

The table belongs to a projection (`State.shared`), not to the module: a state and its copies
share one, and another state (a replay, `verify`) has its own.

JSON values are matched by their encoding, so two dicts with the same keys in another order
stay apart (they render differently). The table is bounded in bytes, not in values: a count
bound let one VM PATCHed with 30 KB of fresh metadata each time hold 10,000 of them (issue
#25: 64 -> 800 MB). It keeps two generations: new values go into the young one, a value found
in the old one moves up, and when the young one is full the old one is let go. A value still
in an entry lives on in the entry; the table only forgets it, and the next equal value starts
a new shared copy. Each value is charged its encoding plus `VALUE_OVERHEAD`; what the table
alone can keep alive is at most `WORST_CASE_FACTOR` times its budget (docs/reliability.md).
"""

from __future__ import annotations

import sys
from typing import Any, Final, TypeVar

import orjson

# Bytes charged for the key and the table's slot, besides the encoding itself.
VALUE_OVERHEAD: Final = 160
DEFAULT_MAX_BYTES: Final = 4 * 1024 * 1024
# A value as Python objects takes at most 5.5 times its encoding (docs/reliability.md, the
# entry limit's rule of one JSON value per 16 bytes); its key takes the encoding once more.
WORST_CASE_FACTOR: Final = 6.5

T = TypeVar("T")


class SharedValues:
    __slots__ = ("_old", "_young", "_young_bytes", "max_bytes")

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._young: dict[bytes, Any] = {}
        self._old: dict[bytes, Any] = {}
        self._young_bytes = 0

    @staticmethod
    def text(value: str) -> str:
        # sys.intern's table forgets a string once nothing else holds it (Python 3.11+).
        return sys.intern(value)

    def json_value(self, value: T) -> T:
        """An object equal to `value` (lists and dicts only), shared with every earlier equal one
        the table still holds."""
        if not value or not isinstance(value, list | dict):
            return value
        key = orjson.dumps(value)
        found = self._young.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        found = self._old.pop(key, None)
        if found is not None:
            value = found
        cost = len(key) + VALUE_OVERHEAD
        if cost > self.max_bytes // 2:
            return value  # too large to share within the budget: held by its entry only
        if self._young_bytes + cost > self.max_bytes // 2:
            self._old, self._young, self._young_bytes = self._young, {}, 0
        # orjson's result keeps a buffer of at least 4 KiB behind it; the exact copy is the size
        # the budget charges.
        self._young[bytes(memoryview(key))] = value
        self._young_bytes += cost
        return value

    @property
    def charged(self) -> int:
        """Bytes charged for what the table holds: at most `max_bytes`."""
        old = sum(len(key) + VALUE_OVERHEAD for key in self._old)
        return self._young_bytes + old

    def __len__(self) -> int:
        return len(self._young) + len(self._old)
