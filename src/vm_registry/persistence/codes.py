"""How events are stored: the on-disk type codes and the payload encoding, shared by every
backend (a log copied from SQLite to PostgreSQL keeps its bytes and its hashes)."""

from __future__ import annotations

from typing import Any, Final

import orjson

from vm_registry.domain.events import DEREGISTERED, HEALTH, HEARTBEAT, REGISTERED, STALE, UPDATED

# Stable small integers for the stored `type` column. Never renumber: logs outlive releases.
TYPE_CODES: Final = {
    REGISTERED: 1,
    UPDATED: 2,
    HEARTBEAT: 3,
    DEREGISTERED: 4,
    STALE: 5,
    HEALTH: 6,
}
CODE_TYPES: Final = {code: name for name, code in TYPE_CODES.items()}


def encode_data(data: dict[str, Any]) -> bytes | None:
    # An empty payload is stored as NULL: most events are heartbeats, and every byte counts.
    return orjson.dumps(data) if data else None


def decode_data(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("event data is not a JSON object")
    return value


def encode_actor(actor: dict[str, Any]) -> bytes:
    """Actors are interned by these bytes: the same actor always encodes the same way."""
    return orjson.dumps(actor, option=orjson.OPT_SORT_KEYS)
