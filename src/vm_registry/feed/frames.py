"""The SSE wire format, byte for byte. Pure functions, so they are tested exactly.

Every frame is encoded once per event and shared by all subscribers. Our payloads are single-line
JSON (orjson never emits raw newlines), so each frame needs exactly one `data:` line.
"""

from __future__ import annotations

from typing import Any

import orjson


def message(event: str, data: Any, seq: int | None = None) -> bytes:
    head = b"" if seq is None else b"id: %d\n" % seq
    return head + b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def bookmark(seq: int) -> bytes:
    """Moves a filtered watcher's resume point (EventSource's lastEventId) forward."""
    return message("bookmark", {"revision": seq}, seq)
