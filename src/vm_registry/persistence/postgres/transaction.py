"""One write transaction on the PostgreSQL log, opened by `PostgresEventLog.locked()`.

The global lock is the row lock on `log_head` (`SELECT ... FOR UPDATE`), held until COMMIT:
appends are serialised across every replica, so seq order is commit order. A BIGSERIAL alone
would not give that (a smaller seq could commit after a larger one, and a follower reading in
between would skip it for good).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from vm_registry.domain.events import Event
from vm_registry.persistence.interns import Interns
from vm_registry.persistence.log import chain_hashes, check_continues
from vm_registry.persistence.postgres.errors import Conn, translated
from vm_registry.persistence.postgres.reading import COLUMNS

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

Decode = Callable[[Sequence[Any], Conn], Awaitable[list[Event]]]


class PostgresTransaction:
    def __init__(
        self,
        conn: Conn,
        interns: Interns,
        decode: Decode,
        name: str,
        head: int,
        last_hash: bytes,
    ) -> None:
        self._conn = conn
        self._interns = interns
        self._decode = decode
        self._name = name
        self._head = head
        self._last_hash = last_hash

    @property
    def head(self) -> int:
        return self._head

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    async def newer(self, after: int) -> list[Event]:
        if after >= self._head:
            return []
        async with translated(f"reading {self._name}"):
            rows = await self._conn.fetch(
                f"SELECT {COLUMNS} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                after,
                self._head,
            )
        return await self._decode(rows, self._conn)

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        check_continues(events, self._head)
        hashes = chain_hashes(events, self._last_hash)
        new_vms, new_actors, rows = self._interns.rows_for(events, hashes)
        async with translated(f"appending to {self._name}"):
            if new_vms:
                await self._conn.executemany(
                    "INSERT INTO vms (id, name) VALUES ($1, $2)",
                    [(key, name.encode()) for key, name in new_vms],
                )
            if new_actors:
                await self._conn.executemany(
                    "INSERT INTO actors (id, body) VALUES ($1, $2)", new_actors
                )
            columns = [list(column) for column in zip(*rows, strict=True)]
            await self._conn.execute(APPEND, *columns, events[-1].seq, hashes[-1], CHANNEL)
        self._head, self._last_hash = events[-1].seq, hashes[-1]
