"""The SQLite schema, versioned with `PRAGMA user_version`, and its migrations.

A migration never loses an event: a log written by an older release opens in a newer one. A
log from a newer release is refused rather than misread.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 3

MIGRATIONS: Final[dict[int, str]] = {
    # 0 -> 1: the log and its intern tables.
    1: """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS actors (id INTEGER PRIMARY KEY, body BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    type INTEGER NOT NULL,
    vm INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    data BLOB,
    hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_vm ON events (vm, seq);
""",
    # 1 -> 2: snapshots of the projection (zlib-compressed canonical bytes).
    2: """
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY,
    chain BLOB NOT NULL,
    digest BLOB NOT NULL,
    body BLOB NOT NULL
);
""",
    # 2 -> 3: heartbeats leave the per-VM index (docs/audit.md, "Reading one VM's history").
    # Each heartbeat wrote a leaf of its own VM's part of the index, a page per event once
    # every VM's part filled one: SQLite's CPU per heartbeat grew 14 -> 27 us. Rebuilt once, on
    # the first start of this release (0.11 s for a log of a million events).
    3: """
DROP INDEX IF EXISTS events_by_vm;
CREATE INDEX IF NOT EXISTS events_by_vm_changes ON events (vm, seq) WHERE type != 3;
""",
}


def upgrade_script(current: int) -> str:
    steps = [MIGRATIONS[v] for v in range(current + 1, SCHEMA_VERSION + 1)]
    return "".join(steps) + f"PRAGMA user_version = {SCHEMA_VERSION};"
