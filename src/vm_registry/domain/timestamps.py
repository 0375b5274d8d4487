"""Time as the registry writes it: integer milliseconds since the epoch, rendered as
JavaScript's `toISOString()` does (`2026-11-25T15:21:41.123Z`).

Milliseconds are the unit on disk and in the fold because they are exact, compact in SQLite
(an 6-byte integer) and what the wire format can express anyway.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=8192)
def _second(seconds: int) -> str:
    # Rendering a timestamp is on every response's path; events cluster in time, so the
    # seconds part repeats and is cached.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def to_iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 timestamp into epoch milliseconds; naive times are taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
