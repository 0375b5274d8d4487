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
on the same database numbers on from the first one's events. Following: `changes()` polls the
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import aiosqlite

from vm_registry.persistence.errors import StoreCorrupt, StoreError, StoreUnavailable
from vm_registry.persistence.interns import Interns
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.sqlite.errors import translate
from vm_registry.persistence.sqlite.file_identity import LogFileIdentity
from vm_registry.persistence.sqlite.leadership import FileLease
from vm_registry.persistence.sqlite.leftovers import cut_time, remove_compacted_rows
from vm_registry.persistence.sqlite.reading import LogReader
from vm_registry.persistence.sqlite.schema import SCHEMA_VERSION, upgrade_script
from vm_registry.persistence.sqlite.transaction import SqliteTransaction

SYNCHRONOUS_MODES: Final = ("NORMAL", "FULL")
# How often `changes()` looks at the head: the lag of a second process's writes in the feed.
POLL_SECONDS: Final = 0.05

log = logging.getLogger("vm_registry.persistence")


class SqliteEventLog(LogReader):
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
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._head = 0
        # The head as of the last time the intern caches were known complete (at open, and
        # after our own commits). `head` itself may move on without them (`changes()`).
        self._interned_at = 0
        self._first_seq = 1
        self._last_hash = GENESIS_HASH
        self._interns = Interns()
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
            self._head, self._last_hash, self._first_seq = await self._position(self._conn())
            self._interned_at = self._head
            await self._refresh_interns(self._conn())
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
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")

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
        for conn in (self._writer, self._reader):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    await conn.close()
        self._writer = self._reader = None

    # -- position --------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self._head

    @property
    def first_seq(self) -> int:
        return self._first_seq

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    def writable(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StoreUnavailable(
                f"{self.path} is open read-only", reason="the event log is open read-only"
            )
        return self._writer

    async def _position(self, conn: aiosqlite.Connection) -> tuple[int, bytes, int]:
        """(head, chain at head, first seq) as stored right now."""
        last = list(
            await conn.execute_fetchall("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        )
        floor = await self._compacted_through(conn)
        if last:
            first = list(await conn.execute_fetchall("SELECT MIN(seq) FROM events"))
            lowest = int(first[0][0])
            # A compaction deletes in chunks after recording its cut: rows at or below the cut
            # may linger for a moment, but they are already gone as far as anyone can see.
            return int(last[0][0]), bytes(last[0][1]), max(lowest, floor + 1)
        if not floor:
            return 0, GENESIS_HASH, 1
        # Compacted down to nothing: the chain continues from the snapshot at the cut.
        at_cut = list(
            await conn.execute_fetchall("SELECT chain FROM snapshots WHERE seq = ?", (floor,))
        )
        if not at_cut:
            raise StoreCorrupt(f"{self.path}: no snapshot at the compaction point {floor}")
        return floor, bytes(at_cut[0][0]), floor + 1

    async def _compacted_through(self, conn: aiosqlite.Connection) -> int:
        rows = list(
            await conn.execute_fetchall("SELECT value FROM meta WHERE key = 'compacted_through'")
        )
        return int(rows[0][0]) if rows else 0

    async def _true_head(self, conn: aiosqlite.Connection) -> tuple[int, bytes]:
        last = list(
            await conn.execute_fetchall("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        )
        if last:
            return int(last[0][0]), bytes(last[0][1])
        head, chain, _ = await self._position(conn)
        return head, chain

    def _observe(self, head: int, chain: bytes) -> None:
        if head > self._head:
            self._head, self._last_hash = head, chain

    async def refresh_first_seq(self) -> int:
        try:
            floor = await self._compacted_through(self._conn())
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        self._first_seq = max(self._first_seq, floor + 1)
        return self._first_seq

    async def compacted_at(self) -> tuple[int, int] | None:
        try:
            return await cut_time(self._conn())
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error

    async def vm_known(self, vm_id: str) -> bool:
        if vm_id not in self._interns.vm_ids:
            await self._refresh_interns(self._conn())
        return vm_id in self._interns.vm_ids

    # -- writing ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[SqliteTransaction]:
        conn = self.writable()
        self.file_identity.check()
        async with self.tx_lock:
            interns = self._interns
            known = interns.last_vm, interns.last_actor
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise translate(error, f"locking {self.path}", self.path) from error
            try:
                head, chain = await self._true_head(conn)
                if head != self._interned_at:
                    # Another process appended: its new VMs and actors took the next ids.
                    await self._refresh_interns(conn)
                    known = interns.last_vm, interns.last_actor
                tx = SqliteTransaction(conn, interns, self._decode_rows, self.path, head, chain)
                yield tx
                await conn.commit()
            except BaseException as error:
                await self._rollback(conn)
                interns.forget_after(*known)
                if isinstance(error, sqlite3.Error):
                    raise translate(error, f"appending to {self.path}", self.path) from error
                raise
            # Committed into a deleted or replaced file is not durable: no acknowledgement.
            self.file_identity.check()
            # Only now, with the batch durable, does the in-memory position move.
            self._observe(tx.head, tx.last_hash)
            self._interned_at = tx.head

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                await conn.execute("ROLLBACK")

    async def rollback(self) -> None:
        """For the snapshot and compaction transactions on the writer connection."""
        if self._writer is not None:
            await self._rollback(self._writer)

    # -- following -------------------------------------------------------------------------

    async def changes(self) -> AsyncIterator[int]:
        seen = -1
        while True:
            try:
                head, chain = await self._true_head(self._conn())
            except sqlite3.Error as error:
                log.warning("following %s: %s", self.path, error)
            except StoreError as error:
                log.warning("following %s: %s", self.path, error)
            else:
                self._observe(head, chain)
                if head != seen:
                    seen = head
                    yield head
            await asyncio.sleep(POLL_SECONDS)

    def leadership(self) -> FileLease:
        return FileLease(self.path.with_name(self.path.name + ".leader"))
