"""The PostgreSQL event log, through asyncpg, for any number of replicas on one database.

- Writing: `locked()` takes the row lock on `log_head` and holds it to COMMIT; the true head
  and chain value come back in the same statement. At the end of a transaction that appended,
  one statement moves `log_head` and NOTIFYs the new head (PostgreSQL delivers it at commit,
  and never for a transaction that rolled back).
- Following: `changes()` LISTENs on its own connection and also polls the head, so a lost
  notification or a dropped connection never leaves a gap; see `following.py`.
- Leadership: an advisory lock on a connection of its own; see `leadership.py`.

Every connection is bounded in time: connecting (`CONNECT_TIMEOUT`), each statement
(`COMMAND_TIMEOUT`) and waiting for the head lock (`lock_timeout` on the server), so a write
answers 503 within bounds when PostgreSQL is gone or stuck, never hangs. The pool is bounded
(`pool_size`, 4 by default): the writer needs one connection, reads and the feed's catch-up
the rest, and a replica never holds more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from vm_registry.persistence.errors import StoreError, StoreUnavailable
from vm_registry.persistence.interns import Interns
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.postgres.errors import DRIVER_ERRORS, Conn, translate, translated
from vm_registry.persistence.postgres.following import Listener, follow
from vm_registry.persistence.postgres.leadership import AdvisoryLease
from vm_registry.persistence.postgres.reading import LogReader
from vm_registry.persistence.postgres.schema import migrate
from vm_registry.persistence.postgres.transaction import CHANNEL, PostgresTransaction

CONNECT_TIMEOUT: Final = 5.0
COMMAND_TIMEOUT: Final = 10.0
LOCK_TIMEOUT_MS: Final = 5000
# A session stopped inside a transaction (a paused or stalled replica holding the head row) is
# ended by the server after this long, which frees the lock; the registry's own transactions
# last milliseconds.
IDLE_IN_TRANSACTION_MS: Final = 10_000
DEFAULT_POOL_SIZE: Final = 4


log = logging.getLogger("vm_registry.persistence")


def redacted(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else netloc))


def _alive(conn: PoolConnectionProxy[asyncpg.Record]) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when the server dropped it
        return False


class PostgresEventLog(LogReader):
    def __init__(
        self, url: str, *, read_only: bool = False, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.name = redacted(url)
        self.read_only = read_only
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._head = 0
        # The head as of the last time the intern caches were known complete (at open, and
        # after our own commits). `head` itself may move on without them (`changes()`).
        self._interned_at = 0
        self._first_seq = 1
        self._last_hash = GENESIS_HASH
        self._interns = Interns()
        # The writer's transactions run on one connection kept out of the pool: no pool reset
        # round trip per commit. One transaction at a time in this process.
        self._writer: PoolConnectionProxy[asyncpg.Record] | None = None
        self._tx_lock = asyncio.Lock()

    def _settings(self) -> dict[str, str]:
        settings = {
            "application_name": "vm-registry",
            "lock_timeout": str(LOCK_TIMEOUT_MS),
            "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS),
        }
        if self.read_only:
            settings["default_transaction_read_only"] = "on"
        return settings

    async def connect(self) -> asyncpg.Connection:
        """A connection outside the pool (the listener's, the lease's)."""
        return await asyncpg.connect(
            self.url,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings=self._settings(),
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=self._settings(),
            )
            async with self._pool.acquire() as conn:
                if not self.read_only:
                    await migrate(conn)
                    await self._remove_compacted_rows(conn)
                self._head, self._last_hash, self._first_seq = await self._position(conn)
                self._interned_at = self._head
                await self.refresh_interns(conn)
        except DRIVER_ERRORS as error:
            await self.close()
            raise translate(error, f"opening {self.name}") from error
        except StoreError:
            await self.close()
            raise

    async def close(self) -> None:
        await self._drop_writer()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except DRIVER_ERRORS:
                pool.terminate()

    async def _position(self, conn: Conn) -> tuple[int, bytes, int]:
        head = await conn.fetchrow("SELECT seq, hash FROM log_head")
        if head is None:
            raise StoreUnavailable(f"{self.name} has no log_head row: not a vm-registry log")
        floor = await self._compacted_through(conn)
        lowest = await conn.fetchval("SELECT min(seq) FROM events")
        first = max(int(lowest) if lowest is not None else floor + 1, floor + 1)
        return int(head[0]), bytes(head[1]), first

    async def _compacted_through(self, conn: Conn | asyncpg.Pool) -> int:
        value = await conn.fetchval("SELECT value FROM meta WHERE key = 'compacted_through'")
        return int(value) if value is not None else 0

    async def _remove_compacted_rows(self, conn: Conn) -> None:
        """Rows a crashed compaction left at or below its cut: nobody reads them any more."""
        cut = await self._compacted_through(conn)
        if cut:
            status = await conn.execute("DELETE FROM events WHERE seq <= $1", cut)
            if status != "DELETE 0":
                log.warning(
                    "%s: an interrupted compaction left rows behind (%s)", self.name, status
                )

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

    def _observe(self, head: int, chain: bytes) -> None:
        if head > self._head:
            self._head, self._last_hash = head, chain

    async def read_head(self) -> tuple[int, bytes]:
        rows = await self.fetch("SELECT seq, hash FROM log_head")
        if not rows:
            raise StoreUnavailable(f"{self.name} has no log_head row", reason="no log head")
        head, chain = int(rows[0][0]), bytes(rows[0][1])
        self._observe(head, chain)
        return head, chain

    async def refresh_first_seq(self) -> int:
        async with translated(f"reading {self.name}"):
            floor = await self._compacted_through(self.pool())
        self._first_seq = max(self._first_seq, floor + 1)
        return self._first_seq

    async def compacted_at(self) -> tuple[int, int] | None:
        rows = await self.fetch(
            "SELECT key, value FROM meta WHERE key IN ('compacted_through', 'compacted_through_at')"
        )
        found = {str(key): str(value) for key, value in rows}
        if "compacted_through" not in found or "compacted_through_at" not in found:
            return None
        return int(found["compacted_through"]), int(found["compacted_through_at"])

    async def vm_known(self, vm_id: str) -> bool:
        if vm_id not in self._interns.vm_ids:
            await self.refresh_interns()
        return vm_id in self._interns.vm_ids

    # -- writing ---------------------------------------------------------------------------

    def writable(self) -> asyncpg.Pool:
        if self.read_only:
            raise StoreUnavailable(
                f"{self.name} is open read-only", reason="the event log is open read-only"
            )
        return self.pool()

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[PostgresTransaction]:
        pool = self.writable()
        async with self._tx_lock:
            if self._writer is None or not _alive(self._writer):
                await self._drop_writer()
                async with translated(f"locking {self.name}"):
                    self._writer = await pool.acquire(timeout=CONNECT_TIMEOUT)
            try:
                async with self._transaction(self._writer) as tx:
                    yield tx
            except StoreError:
                # The connection may be broken, or in a state no one can tell: take a new one.
                await self._drop_writer()
                raise

    async def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None and self._pool is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await asyncio.wait_for(self._pool.release(conn), CONNECT_TIMEOUT)

    @contextlib.asynccontextmanager
    async def _transaction(self, conn: Conn) -> AsyncIterator[PostgresTransaction]:
        interns = self._interns
        known = interns.last_vm, interns.last_actor
        transaction = conn.transaction()
        async with translated(f"locking {self.name}"):
            await transaction.start()
        try:
            async with translated(f"locking {self.name}"):
                row = await conn.fetchrow("SELECT seq, hash FROM log_head FOR UPDATE")
            if row is None:
                raise StoreUnavailable(f"{self.name} has no log_head row", reason="no log head")
            head, chain = int(row[0]), bytes(row[1])
            if head != self._interned_at:
                # Others appended: their new VMs and actors took the next ids.
                await self.refresh_interns(conn)
                known = interns.last_vm, interns.last_actor
            tx = PostgresTransaction(conn, interns, self.decode_rows, self.name, head, chain)
            yield tx
            async with translated(f"committing to {self.name}"):
                await transaction.commit()
        except BaseException:
            with contextlib.suppress(*DRIVER_ERRORS):
                await transaction.rollback()
            interns.forget_after(*known)
            raise
        self._observe(tx.head, tx.last_hash)
        self._interned_at = tx.head

    # -- following -------------------------------------------------------------------------

    def changes(self) -> AsyncIterator[int]:
        return follow(self, Listener(self.connect, CHANNEL, self.name))

    def leadership(self) -> AdvisoryLease:
        return AdvisoryLease(self.connect, self.name)
