"""The SQLite event log, through aiosqlite, in WAL mode.

Layout (schema version 2, see `schema.py`):
- `events(seq, type, vm, at, actor, data, hash)`: the log. `seq` is the rowid, so it costs no
  extra index. `type` is a small integer, `vm` and `actor` point into intern tables, `data` is
  NULL for heartbeats. A heartbeat row is about 50 bytes plus its hash.
- `vms(id, name)` and `actors(id, body)`: each VM id and each distinct actor is stored once.
- `meta(key, value)`: the compaction point.

`at` never decreases with `seq` (the writer guarantees it), so a time is found by a binary
search over the primary key instead of another index.

Writing: `locked()` opens `BEGIN IMMEDIATE`, SQLite's write lock, which is global to the file,
also across processes; under it the true head is read back from the file, so a second process
on the same database numbers on from the first one's events. Following: `heads()` polls the
head, which is cheap (the last row of the primary key).

Durability: with the default `synchronous=NORMAL` in WAL mode a commit is in the operating
system once it returns, so it survives `kill -9` of the server; a power cut may lose the last
few commits. `FULL` fsyncs the WAL on every commit and survives power loss too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from vm_registry.persistence.errors import StoreCorrupt, StoreError, StoreUnavailable
from vm_registry.persistence.id_tables import Row
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.sql.log import SqlEventLog
from vm_registry.persistence.sqlite.checkpoints import (
    BACKSTOP_PAGES,
    WAL_LIMIT_BYTES,
    Checkpointer,
)
from vm_registry.persistence.sqlite.connection_thread import in_thread
from vm_registry.persistence.sqlite.errors import translate, translated
from vm_registry.persistence.sqlite.file_identity import LogFileIdentity
from vm_registry.persistence.sqlite.leadership import FileLease
from vm_registry.persistence.sqlite.leftovers import remove_compacted_rows
from vm_registry.persistence.sqlite.replay_reader import read_in_chunks
from vm_registry.persistence.sqlite.schema import SCHEMA_VERSION, upgrade_script

SYNCHRONOUS_MODES: Final = ("NORMAL", "FULL")
# How often `heads()` looks at the head: the lag of a second process's writes in the feed.
POLL_SECONDS: Final = 0.05
LAST_ROW: Final = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"

log = logging.getLogger("vm_registry.persistence")


class SqliteEventLog(SqlEventLog):
    # Rows per chunk of startup replay: small enough that a chunk's rows are still in the
    # core's cache when the fold reaches them (replay_reader.py). Startup once decoded a whole
    # chunk before folding it: at 50,000 registrations a chunk held ~100 MB of short-lived
    # objects, interleaved in the allocator's arenas with the entries that stay, and a
    # 100,000-VM fleet kept ~2,100 B/VM of RSS for ~1,200 B/VM of live objects (~960 B/VM at
    # 5,000, see docs/benchmarks.md). Rows are now decoded one at a time as they are folded.
    REPLAY_CHUNK = 1_000

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 2000,
        read_only: bool = False,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        super().__init__(str(path))
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self.commits = 0  # the writer's, since open: the checkpointer looks for new ones
        # Transactions span several awaits on the one writer connection; this keeps a
        # snapshot write or a compaction chunk from landing inside the writer's transaction.
        self.tx_lock = asyncio.Lock()
        self.file_identity = LogFileIdentity(self.path)  # noticing a deleted or replaced file

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            if self.read_only:
                if not self.path.is_file():
                    # Said here rather than by a failed connect, whose worker thread outlives
                    # the attempt.
                    raise StoreUnavailable(
                        f"{self.path} does not exist", reason="the log file does not exist"
                    )
                uri = f"file:{self.path}?mode=ro"
                self._reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file_identity.before_open()
                # The sqlite3 module opens "BEGIN IMMEDIATE" by itself before the first write
                # of a snapshot or compaction transaction.
                self._writer = await aiosqlite.connect(self.path, isolation_level="IMMEDIATE")
                await self._configure(self._writer)
                await self._migrate(self._writer)
                self.file_identity.opened()
                await remove_compacted_rows(self._writer)
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
                self._checkpointer = Checkpointer(self)
                self._checkpointer.start()
            await self.load_position(await self._position(self._conn()))
        except sqlite3.Error as error:
            await self.close()
            raise translate(error, f"opening {self.path}", self.path) from error
        except StoreError:
            await self.close()
            raise
        except OSError as error:  # the folder cannot be made, the file cannot be looked at
            await self.close()
            raise StoreUnavailable(
                f"opening {self.path}: {error}", reason=error.strerror or str(error)
            ) from error

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        # Takes on a new file only, and only before WAL mode writes its header: lets retention
        # hand freed pages back (compaction.py). An older file keeps its mode until a VACUUM.
        await conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        # Checkpoints run beside the writer; SQLite's own, in a commit, only as a backstop.
        await conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        await conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        rows = list(await conn.execute_fetchall("PRAGMA user_version"))
        version = int(rows[0][0]) if rows else 0
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"{self.path} has schema version {version}; this release knows {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION:
            await conn.executescript(upgrade_script(version))

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    await conn.close()
        self._writer = self._reader = None

    # -- the driver ------------------------------------------------------------------------

    def _conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreUnavailable(f"{self.path} is not open", reason="the event log is closed")
        return self._reader

    def writable(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StoreUnavailable(
                f"{self.path} is open read-only", reason="the event log is open read-only"
            )
        return self._writer

    async def fetch(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> list[Any]:
        with translated(f"reading {self.path}", self.path):
            source = conn if conn is not None else self._conn()
            return list(await source.execute_fetchall(sql, params))

    def replay_rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[Sequence[Any]]:
        """On a connection of its own, one long query read in chunks (`replay_reader.py`)."""
        return read_in_chunks(self.path, sql, params, self.REPLAY_CHUNK, self.busy_timeout_ms)

    async def _position(self, conn: aiosqlite.Connection) -> tuple[int, bytes, int]:
        """(head, chain at head, first seq) as stored right now."""
        last = await self.fetch(LAST_ROW, (), conn)
        floor = await self.compacted_through(conn)
        if last:
            first = await self.fetch("SELECT MIN(seq) FROM events", (), conn)
            lowest = int(first[0][0])
            # A compaction deletes in chunks after recording its cut: rows at or below the cut
            # may linger for a moment, but they are already gone as far as anyone can see.
            return int(last[0][0]), bytes(last[0][1]), max(lowest, floor + 1)
        if not floor:
            return 0, GENESIS_HASH, 1
        # Compacted down to nothing: the chain continues from the snapshot at the cut.
        at_cut = await self.fetch("SELECT chain FROM snapshots WHERE seq = ?", (floor,), conn)
        if not at_cut:
            raise StoreCorrupt(f"{self.path}: no snapshot at the compaction point {floor}")
        return floor, bytes(at_cut[0][0]), floor + 1

    async def _true_head(self, conn: aiosqlite.Connection) -> tuple[int, bytes]:
        last = await self.fetch(LAST_ROW, (), conn)
        if last:
            return int(last[0][0]), bytes(last[0][1])
        head, chain, _ = await self._position(conn)
        return head, chain

    # -- writing ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def write_session(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = self.writable()
        self.file_identity.check()
        async with self.tx_lock:
            yield conn

    async def begin(self, conn: aiosqlite.Connection) -> tuple[int, bytes]:
        # SQLite's write lock, global to the file: under it the true head is read back from
        # the file, so a second process on the same database numbers on from the first's.
        # Both in one trip to the connection's thread (connection_thread.py).
        with translated(f"locking {self.path}", self.path):
            last = await in_thread(conn, _lock_and_read_head)
        if last:
            return int(last[0][0]), bytes(last[0][1])
        head, chain, _ = await self._position(conn)  # nothing stored: the compaction point
        return head, chain

    async def insert(
        self,
        conn: aiosqlite.Connection,
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> None:
        with translated(f"appending to {self.path}", self.path):
            await in_thread(conn, _insert, vms, actors, rows)

    async def insert_and_commit(
        self,
        conn: aiosqlite.Connection,
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> None:
        with translated(f"appending to {self.path}", self.path):
            await in_thread(conn, _insert_and_commit, vms, actors, rows)

    async def insert_if_head(
        self,
        conn: aiosqlite.Connection,
        head: tuple[int, bytes],
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> bool:
        # The lock, the head check, the rows and the commit: one trip.
        with translated(f"appending to {self.path}", self.path):
            return await in_thread(conn, _insert_if_head, head, vms, actors, rows)

    async def commit(self, conn: aiosqlite.Connection) -> None:
        with translated(f"appending to {self.path}", self.path):
            await conn.commit()

    async def rollback_on(self, conn: aiosqlite.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                await conn.execute("ROLLBACK")

    def committed(self) -> None:
        self.commits += 1
        # Committed into a deleted or replaced file is not durable: no acknowledgement.
        self.file_identity.check()

    async def rollback(self) -> None:
        """For the snapshot and compaction transactions on the writer connection."""
        if self._writer is not None:
            await self.rollback_on(self._writer)

    # -- following -------------------------------------------------------------------------

    async def heads(self) -> AsyncIterator[int]:
        seen = -1
        while True:
            try:
                head, chain = await self._true_head(self._conn())
            except StoreError as error:
                log.warning("following %s: %s", self.path, error)
            else:
                self.observe(head, chain)
                if head != seen:
                    seen = head
                    yield head
            await asyncio.sleep(POLL_SECONDS)

    def leadership(self) -> FileLease:
        return FileLease(self.path.with_name(self.path.name + ".leader"))


# What runs in the connection's thread, on its `sqlite3.Connection`, one trip each.


def _lock_and_read_head(raw: sqlite3.Connection) -> list[Any]:
    raw.execute("BEGIN IMMEDIATE")
    return raw.execute(LAST_ROW).fetchall()


def _insert(
    raw: sqlite3.Connection,
    vms: list[tuple[int, str]],
    actors: list[tuple[int, bytes]],
    rows: list[Row],
) -> None:
    if vms:
        raw.executemany("INSERT INTO vms (id, name) VALUES (?, ?)", vms)
    if actors:
        raw.executemany("INSERT INTO actors (id, body) VALUES (?, ?)", actors)
    raw.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _insert_and_commit(
    raw: sqlite3.Connection,
    vms: list[tuple[int, str]],
    actors: list[tuple[int, bytes]],
    rows: list[Row],
) -> None:
    _insert(raw, vms, actors, rows)
    raw.commit()


def _insert_if_head(
    raw: sqlite3.Connection,
    head: tuple[int, bytes],
    vms: list[tuple[int, str]],
    actors: list[tuple[int, bytes]],
    rows: list[Row],
) -> bool:
    last = _lock_and_read_head(raw)
    # No row at all (compacted down to nothing) is never taken for the assumed head: the
    # caller then begins the ordinary way, which finds the head at the compaction point.
    if not last or (last[0][0], bytes(last[0][1])) != head:
        raw.rollback()
        return False
    if rows:
        _insert(raw, vms, actors, rows)
    raw.commit()
    return True
