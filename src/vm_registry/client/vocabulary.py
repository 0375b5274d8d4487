"""The words of the wire: roles, statuses and event types, and how times and absent fields
are written.

They are spelled out here, not imported from the server's domain, so that the client imports
nothing of the server and could ship on its own (tests/test_layers.py holds it to that);
tests/client/test_models.py checks they are the server's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

Role = Literal["infra", "lieutenant", "worker", "golden", "custom"]
Status = Literal["running", "paused", "stopped"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
STATUSES: Final[tuple[str, ...]] = get_args(Status)
EVENT_TYPES: Final = (
    "vm.registered",
    "vm.updated",
    "vm.heartbeat",
    "vm.deregistered",
    "vm.stale",
    "vm.health",
)

JsonObject = dict[str, Any]


def present(**fields: Any) -> JsonObject:
    """The fields that were given: on the wire a field left out is absent, never null."""
    return {name: value for name, value in fields.items() if value is not None}


def parse_time(text: str) -> datetime:
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def format_time(moment: datetime) -> str:
    """As JavaScript's `toISOString()` writes it, which is what the registry sends."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
