"""Tables for people: the human face of the CLI commands (`--json` is the machine one).

A `Tabular` renders two ways. On a terminal, rich draws it (borders, a bold header, stale VMs
in red). Piped or redirected, it is the plain aligned text it always was, column for column,
so scripts that cut or grep it keep working; `show()` picks. rich is imported only on the
terminal path: agents calling the CLI from scripts do not pay for it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from vm_registry.client.models import Entry, Event

if TYPE_CHECKING:
    from rich.table import Table


@dataclass(frozen=True, slots=True)
class Tabular:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    empty: str | None = None  # printed instead of a table without rows (None: the headers)
    styles: Sequence[str | None] = field(default=())  # a rich style per row, on a terminal
    caption: str | None = None

    def plain(self) -> str:
        if not self.rows and self.empty is not None:
            return self.empty
        text = table(self.headers, self.rows)
        return f"{text}\n{self.caption}" if self.caption else text

    def rich(self) -> Table:
        from rich.table import Table

        drawn = Table(*self.headers, header_style="bold", caption=self.caption)
        for index, row in enumerate(self.rows):
            drawn.add_row(*row, style=self.styles[index] if index < len(self.styles) else None)
        return drawn


def show(item: str | Tabular) -> None:
    """Print a result: a rich table on a terminal, plain text otherwise."""
    if isinstance(item, Tabular):
        if (item.rows or item.empty is None) and sys.stdout.isatty():
            from rich.console import Console

            Console().print(item.rich())
            return
        item = item.plain()
    print(item, flush=True)


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


ENTRY_HEADERS = ("ID", "NAME", "ROLE", "STATUS", "ADDRESS", "LAST SEEN", "REV")


def entry_row(entry: Entry) -> list[str]:
    return [entry.id, entry.name, entry.role, _status(entry), entry.address,
            age(entry.last_seen), str(entry.revision or "")]  # fmt: skip


def entries_table(entries: Sequence[Entry]) -> Tabular:
    return Tabular(
        ENTRY_HEADERS,
        [entry_row(e) for e in entries],
        empty="no VMs",
        styles=["red" if e.stale else None for e in entries],
    )


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
    kind = f"{event.type} (left the selection)" if event.left else event.type
    return [str(event.seq), event.to_wire()["at"], kind, event.vm_id, data]


def events_table(events: Sequence[Event]) -> Tabular:
    rows = [event_row(e) for e in events]
    return Tabular(("SEQ", "AT", "TYPE", "VM", "DATA"), rows, empty="no events")


# Commands ----------------------------------------------------------------------------------
