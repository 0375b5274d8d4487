"""A store: the event log, the snapshot store and compaction of one database, opened together.

`open_store(target)` picks the backend from the target alone: a `postgresql://` URL or a file
path (SQLite). Nothing above `persistence/` names a backend or imports a driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from vm_registry.persistence.compaction import Compaction
from vm_registry.persistence.log import EventLog
from vm_registry.persistence.snapshots import SnapshotStore
from vm_registry.persistence.targets import is_postgres_url


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Store:
    log: EventLog
    snapshots: SnapshotStore
    compaction: Compaction
    # What to call the database in messages, without secrets (a URL's password is removed).
    name: str
    # Backend facts for /health and /metrics, so that nothing above persistence/ has to name
    # a backend: why the log's file can no longer be trusted (None when it can, or when the
    # backend has no file), its bytes on disk where the backend knows them, and whether the
    # log is shared by replicas on other machines (PostgreSQL). `bytes_on_disk` is read by a
    # synchronous collector, so it never waits on the database: a backend whose size takes a
    # query gives `measure_bytes`, which the metrics route awaits first (postgres/size.py).
    file_problem: Callable[[], str | None] = lambda: None
    bytes_on_disk: Callable[[], int | None] = lambda: None
    measure_bytes: Callable[[], Awaitable[None]] = _nothing
    shared: bool = False

    async def close(self) -> None:
        await self.log.close()


def sqlite_store(
    path: str | Path, *, read_only: bool = False, synchronous: str = "NORMAL"
) -> Store:
    from vm_registry.persistence.sqlite.compaction import SqliteCompaction
    from vm_registry.persistence.sqlite.file_identity import file_bytes, log_file_problem
    from vm_registry.persistence.sqlite.log import SqliteEventLog
    from vm_registry.persistence.sqlite.snapshots import SqliteSnapshots

    log = SqliteEventLog(path, read_only=read_only, synchronous=synchronous)
    return Store(
        log,
        SqliteSnapshots(log),
        SqliteCompaction(log),
        str(path),
        file_problem=lambda: log_file_problem(log),
        bytes_on_disk=lambda: file_bytes(log.path),
    )


def postgres_store(url: str, *, read_only: bool = False, pool_size: int = 4) -> Store:
    # Imported here: a SQLite-only installation never loads the PostgreSQL driver.
    from vm_registry.persistence.postgres.compaction import PostgresCompaction
    from vm_registry.persistence.postgres.log import PostgresEventLog
    from vm_registry.persistence.postgres.size import LogSize
    from vm_registry.persistence.postgres.snapshots import PostgresSnapshots

    log = PostgresEventLog(url, read_only=read_only, pool_size=pool_size)
    size = LogSize(log)
    return Store(
        log,
        PostgresSnapshots(log),
        PostgresCompaction(log),
        log.name,
        bytes_on_disk=size.latest,
        measure_bytes=size.measure,
        shared=True,
    )


def store_for(
    target: str | Path,
    *,
    read_only: bool = False,
    synchronous: str = "NORMAL",
    pool_size: int = 4,
) -> Store:
    """The store at `target`, not yet opened: a `postgresql://` URL or a SQLite file path."""
    if is_postgres_url(target):
        return postgres_store(str(target), read_only=read_only, pool_size=pool_size)
    return sqlite_store(target, read_only=read_only, synchronous=synchronous)


async def open_store(
    target: str | Path,
    *,
    read_only: bool = False,
    synchronous: str = "NORMAL",
    pool_size: int = 4,
) -> Store:
    """Open the store at `target`. Raises `StoreError` (never a driver exception)."""
    store = store_for(target, read_only=read_only, synchronous=synchronous, pool_size=pool_size)
    await store.log.open()
    return store
