"""A store: the event log, the snapshot store and compaction of one database, opened together.

`open_store(target)` picks the backend from the target alone: a `postgresql://` URL or a file
path (SQLite). Nothing above `persistence/` names a backend or imports a driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vm_registry.persistence.compaction import Compaction
from vm_registry.persistence.log import EventLog
from vm_registry.persistence.snapshots import SnapshotStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | Path) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


@dataclass(frozen=True, slots=True)
class Store:
    log: EventLog
    snapshots: SnapshotStore
    compaction: Compaction
    # What to call the database in messages, without secrets (a URL's password is removed).
    name: str

    async def close(self) -> None:
        await self.log.close()


def sqlite_store(
    path: str | Path, *, read_only: bool = False, synchronous: str = "NORMAL"
) -> Store:
    from vm_registry.persistence.sqlite.compaction import SqliteCompaction
    from vm_registry.persistence.sqlite.log import SqliteEventLog
    from vm_registry.persistence.sqlite.snapshots import SqliteSnapshots

    log = SqliteEventLog(path, read_only=read_only, synchronous=synchronous)
    return Store(log, SqliteSnapshots(log), SqliteCompaction(log), str(path))


async def open_store(
    target: str | Path, *, read_only: bool = False, synchronous: str = "NORMAL"
) -> Store:
    """Open the store at `target`. Raises `StoreError` (never a driver exception)."""
    if is_url(target):
        raise NotImplementedError("the PostgreSQL backend is not built yet")
    store = sqlite_store(target, read_only=read_only, synchronous=synchronous)
    await store.log.open()
    return store
