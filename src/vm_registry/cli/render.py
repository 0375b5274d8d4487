"""Tables for a terminal: the human face of the CLI commands (`--json` is the machine one)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from vm_registry.client.models import Entry, Event


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def age(moment: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 0:
        seconds = 0
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _status(entry: Entry) -> str:
    return f"{entry.status} (stale)" if entry.stale else entry.status


def entries_table(entries: Sequence[Entry]) -> str:
    if not entries:
        return "no VMs"
    rows = [
        [e.id, e.name, e.role, _status(e), e.address, age(e.last_seen), str(e.revision or "")]
        for e in entries
    ]
    headers = ["ID", "NAME", "ROLE", "STATUS", "ADDRESS", "LAST SEEN", "REV"]
    return table(headers, rows)


def entry_text(entry: Entry) -> str:
    services = ", ".join(f"{s.name}:{s.port}{s.health_path or ''}" for s in entry.services or ())
    fields = [
        ("id", entry.id),
        ("name", entry.name),
        ("role", entry.role),
        ("status", _status(entry)),
        ("address", entry.address),
        ("services", services or "-"),
        ("metadata", orjson.dumps(entry.metadata).decode() if entry.metadata else "-"),
        ("registered by", entry.registered_by),
        ("registered at", entry.to_wire()["registeredAt"]),
        ("last seen", f"{entry.to_wire()['lastSeen']} ({age(entry.last_seen)})"),
        ("revision", str(entry.revision)),
    ]
    return "\n".join(f"{name + ':':<15}{value}" for name, value in fields)


def event_row(event: Event) -> list[str]:
    data = orjson.dumps(event.data).decode() if event.data else ""
    return [str(event.seq), event.to_wire()["at"], event.type, event.vm_id, data]


def events_table(events: Sequence[Event]) -> str:
    if not events:
        return "no events"
    return table(["SEQ", "AT", "TYPE", "VM", "DATA"], [event_row(e) for e in events])


# Commands ----------------------------------------------------------------------------------
