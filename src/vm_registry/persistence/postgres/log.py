"""The PostgreSQL event log, through asyncpg, for any number of replicas on one database.

- Writing: `locked()` takes the row lock on `log_head` and holds it to COMMIT; the true head
  and chain value come back in the same statement. At the end of a transaction that appended,
  one statement moves `log_head` and NOTIFYs the new head (PostgreSQL delivers it at commit,
  and never for a transaction that rolled back).
- Following: `heads()` LISTENs on its own connection and also polls the head, so a lost
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
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from vm_registry.persistence.errors import StoreError, StoreUnavailable
from vm_registry.persistence.id_tables import Row
from vm_registry.persistence.postgres.errors import DRIVER_ERRORS, Conn, translate, translated
from vm_registry.persistence.postgres.following import Listener, follow
from vm_registry.persistence.postgres.leadership import AdvisoryLease
from vm_registry.persistence.postgres.schema import migrate
from vm_registry.persistence.sql.log import SqlEventLog
from vm_registry.persistence.targets import redacted

CONNECT_TIMEOUT: Final = 5.0
COMMAND_TIMEOUT: Final = 10.0
LOCK_TIMEOUT_MS: Final = 5000
# A session stopped inside a transaction (a paused or stalled replica holding the head row) is
# ended by the server after this long, which frees the lock; the registry's own transactions
# last milliseconds.
IDLE_IN_TRANSACTION_MS: Final = 10_000
DEFAULT_POOL_SIZE: Final = 4
CHANNEL: Final = "vm_registry_log"

# One statement, one round trip, for the whole batch: the rows (each column travels as one
# array), the head row moved on, and the new head announced. PostgreSQL delivers the
# notification at COMMIT, and never for a transaction that rolled back.
APPEND: Final = (
    "WITH appended AS (INSERT INTO events (seq, type, vm, at, actor, data, hash) "
    "SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::integer[], $4::bigint[], "
    "$5::integer[], $6::bytea[], $7::bytea[])), "
    "moved AS (UPDATE log_head SET seq = $8, hash = $9) "
    "SELECT pg_notify($10, $8::text)"
)

log = logging.getLogger("vm_registry.persistence")


@functools.lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """The shared SQL's `?` placeholders as asyncpg's `$1, $2, ...`."""
    pieces = sql.split("?")
    return "".join(f"{piece}${n}" for n, piece in enumerate(pieces[:-1], start=1)) + pieces[-1]


def _alive(conn: PoolConnectionProxy[asyncpg.Record]) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when the server dropped it
        return False


class PostgresEventLog(SqlEventLog):
    # Not SQLite's 1,000: each chunk is a query and a round trip here (sqlite/log.py has why
    # chunks are small at all).
    REPLAY_CHUNK = 5_000
    NAMES_AS_BYTES = True

    def __init__(
        self, url: str, *, read_only: bool = False, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        super().__init__(redacted(url))
        self.url = url
        self.read_only = read_only
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        # The writer's transactions run on one connection kept out of the pool: no pool reset
        # round trip per commit. One transaction at a time in this process.
        self._writer: PoolConnectionProxy[asyncpg.Record] | None = None
        self._tx_lock = asyncio.Lock()
        self._transaction: Any = None  # the writer's open transaction, if any

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
                await self.load_position(await self._position(conn), conn)
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
        head, chain = await self._head_row("SELECT seq, hash FROM log_head", conn)
        floor = await self.compacted_through(conn)
        lowest = await self.fetch("SELECT min(seq) FROM events", (), conn)
        first = max(int(lowest[0][0]) if lowest[0][0] is not None else floor + 1, floor + 1)
        return head, chain, first

    async def _remove_compacted_rows(self, conn: Conn) -> None:
        """Rows a crashed compaction left at or below its cut: nobody reads them any more."""
        cut = await self.compacted_through(conn)
        if cut:
            status = await conn.execute("DELETE FROM events WHERE seq <= $1", cut)
            if status != "DELETE 0":
                log.warning(
                    "%s: an interrupted compaction left rows behind (%s)", self.name, status
                )

    # -- the driver ------------------------------------------------------------------------

    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable(f"{self.name} is not open", reason="the event log is closed")
        return self._pool

    def writable(self) -> asyncpg.Pool:
        if self.read_only:
            raise StoreUnavailable(
                f"{self.name} is open read-only", reason="the event log is open read-only"
            )
        return self.pool()

    async def fetch(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> list[Any]:
        source = conn if conn is not None else self.pool()
        async with translated(f"reading {self.name}"):
            return list(await source.fetch(numbered(sql), *params))

    async def _head_row(self, sql: str, conn: Any = None) -> tuple[int, bytes]:
        rows = await self.fetch(sql, (), conn)
        if not rows:
            raise StoreUnavailable(
                f"{self.name} has no log_head row: not a vm-registry log", reason="no log head"
            )
        return int(rows[0][0]), bytes(rows[0][1])

    async def read_head(self) -> tuple[int, bytes]:
        head, chain = await self._head_row("SELECT seq, hash FROM log_head")
        self.observe(head, chain)
        return head, chain

    # -- writing ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def write_session(self) -> AsyncIterator[Conn]:
        pool = self.writable()
        async with self._tx_lock:
            if self._writer is None or not _alive(self._writer):
                await self._drop_writer()
                async with translated(f"locking {self.name}"):
                    self._writer = await pool.acquire(timeout=CONNECT_TIMEOUT)
            try:
                yield self._writer
            except StoreError:
                # The connection may be broken, or in a state no one can tell: take a new one.
                await self._drop_writer()
                raise

    async def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None and self._pool is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await asyncio.wait_for(self._pool.release(conn), CONNECT_TIMEOUT)

    async def begin(self, conn: Conn) -> tuple[int, bytes]:
        # The global lock is the row lock on `log_head`, held until COMMIT: appends are
        # serialised across every replica, so seq order is commit order. A BIGSERIAL alone
        # would not give that (a smaller seq could commit after a larger one, and a follower
        # reading in between would skip it for good).
        self._transaction = conn.transaction()
        async with translated(f"locking {self.name}"):
            await self._transaction.start()
        return await self._head_row("SELECT seq, hash FROM log_head FOR UPDATE", conn)

    async def insert(
        self,
        conn: Conn,
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> None:
        async with translated(f"appending to {self.name}"):
            if vms:
                await conn.executemany(
                    "INSERT INTO vms (id, name) VALUES ($1, $2)",
                    [(key, name.encode()) for key, name in vms],
                )
            if actors:
                await conn.executemany("INSERT INTO actors (id, body) VALUES ($1, $2)", actors)
            columns = [list(column) for column in zip(*rows, strict=True)]
            seq, chain = rows[-1][0], rows[-1][6]
            await conn.execute(APPEND, *columns, seq, chain, CHANNEL)

    async def commit(self, conn: Conn) -> None:
        transaction, self._transaction = self._transaction, None
        async with translated(f"committing to {self.name}"):
            await transaction.commit()

    async def rollback_on(self, conn: Conn) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await transaction.rollback()

    # -- following -------------------------------------------------------------------------

    def heads(self) -> AsyncIterator[int]:
        return follow(self, Listener(self.connect, CHANNEL, self.name))

    def leadership(self) -> AdvisoryLease:
        return AdvisoryLease(self.connect, self.name)
