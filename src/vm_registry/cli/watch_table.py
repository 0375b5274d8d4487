"""`vm-registry watch` on a terminal: one live table of the fleet, updated in place, like
`kubectl get -w`.

Rows appear when a VM registers, change in place when it does, and leave when it deregisters.
A row that just changed is marked for a moment (`MARK_SECONDS`): green when new, yellow when
changed, red and struck through when removed (it then leaves). A heartbeat only refreshes "last
seen", as it changes nothing else. Ages tick on their own: rich redraws the table a few times a
second from this view, under a lock, since the watch reads the feed in the main thread.

Piped, or with `--json`, `watch` prints one line per event instead, stable for scripts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from vm_registry.cli.render import ENTRY_HEADERS, entry_row
from vm_registry.client.models import Entry, Event, Snapshot

MARK_SECONDS = 3.0
STYLES = {"new": "bold green", "changed": "bold yellow", "removed": "red strike"}


@dataclass(slots=True)
class _Row:
    entry: Entry
    mark: str | None = None  # "new", "changed" or "removed"
    marked_at: float = 0.0


class FleetView:
    def __init__(self, title: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.title = title
        self.clock = clock
        self.revision = 0
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def apply(self, item: Event | Snapshot) -> None:
        with self._lock:
            if isinstance(item, Snapshot):
                # The whole fleet (again, after a re-list): rows not in it are gone.
                # Kept oldest registration first, so new ones append at the end.
                self._rows = {vm.id: _Row(vm) for vm in reversed(item.vms)}
                self.revision = item.revision
                return
            self.revision = item.seq
            now = self.clock()
            known = self._rows.get(item.vm_id)
            if item.type == "vm.deregistered" or item.left:  # gone, or out of the selection
                if known is not None:
                    known.mark, known.marked_at = "removed", now
                return
            if item.vm is None:
                return
            if known is None or known.mark == "removed":
                self._rows.pop(item.vm_id, None)  # a re-registration is the newest again
                self._rows[item.vm_id] = _Row(item.vm, "new", now)
            elif item.type == "vm.heartbeat":
                known.entry = item.vm
            else:
                known.entry, known.mark, known.marked_at = item.vm, "changed", now

    def __rich__(self) -> Table:
        with self._lock:
            now = self.clock()
            for vm_id in [k for k, row in self._rows.items() if self._expired(row, now)]:
                if self._rows[vm_id].mark == "removed":
                    del self._rows[vm_id]
                else:
                    self._rows[vm_id].mark = None
            rows = list(self._rows.values())
        table = Table(
            *ENTRY_HEADERS, title=self.title, header_style="bold", caption=self._caption(rows)
        )
        for row in reversed(rows):  # newest registration first, as `list` shows them
            style = STYLES.get(row.mark or "") or ("red" if row.entry.stale else None)
            table.add_row(*entry_row(row.entry), style=style)
        return table

    def _expired(self, row: _Row, now: float) -> bool:
        return row.mark is not None and now - row.marked_at >= MARK_SECONDS

    def _caption(self, rows: Iterable[_Row]) -> Text:
        live = [row.entry for row in rows if row.mark != "removed"]
        stale = sum(1 for entry in live if entry.stale)
        text = f"revision {self.revision} · {len(live)} VMs"
        if stale:
            text += f" · {stale} stale"
        return Text(text + " · Ctrl-C to stop", style="dim")


def watch_live(
    items: Iterable[Event | Snapshot], title: str, console: Console | None = None
) -> None:
    """Draw `items` as a live table until they end (or Ctrl-C)."""
    view = FleetView(title)
    with Live(view, console=console or Console(), refresh_per_second=4, transient=False):
        for item in items:
            view.apply(item)
