"""The in-process references some scenarios are measured against.

`raw_fold` is scenario 5's yardstick: the least a Python process must do to get the fleet out
of the log file. It reads the events table with the standard `sqlite3` module in large chunks,
decodes each payload with orjson and folds into plain dicts, updated in place. It knows the
SQLite backend's schema (interned VM ids, integer type codes, NULL payloads for heartbeats), so
a schema change needs a matching change here; that is the price of a reference that owes
nothing to the server's code.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from vm_registry.persistence.codes import TYPE_CODES

CHUNK = 50_000
_REGISTERED = TYPE_CODES["vm.registered"]
_UPDATED = TYPE_CODES["vm.updated"]
_HEARTBEAT = TYPE_CODES["vm.heartbeat"]
_DEREGISTERED = TYPE_CODES["vm.deregistered"]
_STALE = TYPE_CODES["vm.stale"]


def raw_fold(path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """(events read, fleet by id)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = dict(connection.execute("SELECT id, name FROM vms"))
        fleet: dict[str, dict[str, Any]] = {}
        count = 0
        cursor = connection.execute("SELECT type, vm, at, data FROM events ORDER BY seq")
        loads = orjson.loads
        while rows := cursor.fetchmany(CHUNK):
            count += len(rows)
            for code, vm, at, raw in rows:
                if code == _HEARTBEAT:
                    entry = fleet[names[vm]]
                    entry["lastSeen"] = at
                    entry["stale"] = False
                    continue
                vm_id = names[vm]
                data = loads(raw) if raw is not None else {}
                if code == _REGISTERED:
                    data["id"], data["registeredAt"], data["lastSeen"] = vm_id, at, at
                    fleet[vm_id] = data
                elif code == _UPDATED:
                    entry = fleet[vm_id]
                    entry.update(data)
                    entry["lastSeen"] = at
                elif code == _STALE:
                    fleet[vm_id]["stale"] = True
                elif code == _DEREGISTERED:
                    del fleet[vm_id]
        return count, fleet
    finally:
        connection.close()


def time_raw_fold(path: Path) -> tuple[float, int, int]:
    """(seconds, events read, VMs at the end)."""
    started = time.perf_counter()
    count, fleet = raw_fold(path)
    return time.perf_counter() - started, count, len(fleet)


def time_encoding(value: object, repeats: int = 5) -> list[float]:
    """Seconds per `orjson.dumps(value)`, once per repeat: scenario 4's reference."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        orjson.dumps(value)
        timings.append(time.perf_counter() - started)
    return timings
