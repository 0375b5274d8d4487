"""The rules a registry entry's values follow: ids, texts, roles, statuses, ports, metadata.
Which fields a request body may carry, in the wire's camelCase, is `wire/bodies.py`.

Every rule answers with a message that names the field, so a client can fix its request
without reading our source. Limits are deliberately generous but finite: a registry entry is
small, and anything unbounded is a way to hurt the whole fleet.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from vm_registry.domain.errors import Invalid, TooLarge
from vm_registry.domain.model import ROLES, STATUSES, JsonObject

MAX_ID_LENGTH: Final = 256
MAX_STRING_LENGTH: Final = 1024
MAX_SERVICES: Final = 64
MAX_METADATA_DEPTH: Final = 32
# An entry's services and metadata together, encoded as JSON. Memory, the feed's frames and
# every list response grow with it; the default is far above what agents send (a few hundred
# bytes) and far below the 1 MiB body limit. Configurable (`serve --max-entry-bytes`).
MAX_ENTRY_BYTES: Final = 64 * 1024
# At most one JSON value (each object, array, string, number...) per this many bytes of the
# limit: 4,096 at the default. As Python objects, an array of empty objects takes 24 times its
# encoded size; counting values keeps the in-memory cost of an entry near its encoded size.
BYTES_PER_VALUE: Final = 16


# C0, DEL and C1 (Unicode's `Cc`). One regex scan, not a Python test per character: a
# registration checks five texts, and that loop was half of its validation's CPU.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _trimmed(value: Any, where: str, most: int) -> str:
    """A string, trimmed, of 1 to `most` characters."""
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a string")
    text = value.strip()
    if not text:
        raise Invalid(f"{where} must not be empty")
    if len(text) > most:
        raise Invalid(f"{where} must be at most {most} characters")
    return text


def _no_control(text: str, where: str) -> str:
    if _has_control(text):
        raise Invalid(f"{where} must not contain control characters")
    return text


def vm_id(value: Any, where: str = "id") -> str:
    text = _trimmed(value, where, MAX_ID_LENGTH)
    if "/" in text:
        raise Invalid(f"{where} must not contain '/'")
    _no_control(text, where)
    if text in (".", ".."):
        raise Invalid(f"{where} must not be '.' or '..'")
    return text


def text_field(value: Any, where: str) -> str:
    return _no_control(_trimmed(value, where, MAX_STRING_LENGTH), where)


def role(value: Any, where: str = "role") -> str:
    if value not in ROLES:
        raise Invalid(f"{where} must be one of {', '.join(ROLES)}")
    return str(value)


def status(value: Any, where: str = "status") -> str:
    if value not in STATUSES:
        raise Invalid(f"{where} must be one of {', '.join(STATUSES)}")
    return str(value)


def port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{where} must be an integer")
    if not 1 <= value <= 65535:
        raise Invalid(f"{where} must be between 1 and 65535")
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    return not _depth_ok(value, limit)


def _depth_ok(value: Any, limit: int) -> bool:
    # Iterative, so a hostile 1,000-deep document cannot raise RecursionError here. Only
    # containers are stacked: most values are not, and need no second look.
    if not isinstance(value, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return True


def metadata(value: Any, where: str = "metadata") -> JsonObject:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be a JSON object")
    if not _depth_ok(value, MAX_METADATA_DEPTH):
        raise Invalid(f"{where} is nested deeper than {MAX_METADATA_DEPTH} levels")
    return value


def entry_size(services: Any, metadata: Any) -> int:
    """Encoded bytes of an entry's services and metadata (absent ones count nothing)."""
    return sum(len(orjson.dumps(part)) for part in (services, metadata) if part is not None)


def _values(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
            count += len(node)  # the keys
        elif isinstance(node, list):
            stack.extend(node)
    return count


def check_entry_size(services: Any, metadata: Any, limit: int) -> None:
    """Raise TooLarge when services and metadata together exceed `limit` bytes encoded, or
    hold more than one JSON value per `BYTES_PER_VALUE` bytes of it."""
    size = entry_size(services, metadata)
    if size > limit:
        raise TooLarge(
            f"services and metadata take {size} bytes encoded; the limit of an entry is "
            f"{limit} bytes (--max-entry-bytes)"
        )
    most = max(limit // BYTES_PER_VALUE, 1)
    # Every value (and key) begins at its own byte of the encoding, so there are at most `size`
    # of them: within that many, the walk cannot find too many, and is skipped.
    if size <= most:
        return
    values = sum(_values(part) for part in (services, metadata) if part is not None)
    if values > most:
        raise TooLarge(
            f"services and metadata hold {values} JSON values; the limit of an entry is "
            f"{most} (one per {BYTES_PER_VALUE} bytes of "
            "--max-entry-bytes)"
        )
