"""Compaction of the PostgreSQL log: record the cut first, then delete in short transactions.

The first transaction also moves `log_head` up to the cut when the log is empty below it: that
is how `migrate` starts a new log at the compaction point of the one it copies.
"""

from __future__ import annotations

from vm_registry.persistence.postgres.errors import translated
from vm_registry.persistence.postgres.log import PostgresEventLog, numbered
from vm_registry.persistence.postgres.snapshots import UPSERT
from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sql.compaction import COMPACT_CHUNK, DELETE_CHUNK, Rest, delete_through


class PostgresCompaction:
    def __init__(self, log: PostgresEventLog) -> None:
        self.log = log

    async def compact(
        self,
        cut: int,
        chain: bytes,
        canonical: bytes,
        cut_at: int | None = None,
        *,
        chunk: int = COMPACT_CHUNK,
        rest: Rest | None = None,
    ) -> int:
        log = self.log
        pool = log.writable()
        body, digest = await packed(canonical)
        async with translated(f"compacting {log.name}"):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT 1 FROM log_head FOR UPDATE")
                await conn.execute(UPSERT, cut, chain, digest, body)
                # Snapshots before the cut can no longer be checked against a refold.
                await conn.execute("DELETE FROM snapshots WHERE seq < $1", cut)
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('compacted_through', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    str(cut),
                )
                if cut_at is None:
                    cut_at = await conn.fetchval("SELECT at FROM events WHERE seq = $1", cut)
                if cut_at is not None:
                    await conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('compacted_through_at', $1) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        str(cut_at),
                    )
                await conn.execute(
                    "UPDATE log_head SET seq = $1, hash = $2 WHERE seq < $1", cut, chain
                )
            await log.refresh_first_seq()

            async def one_chunk(cut: int, size: int) -> int:
                status = await pool.execute(numbered(DELETE_CHUNK), cut, size)
                return int(status.split()[-1])

            return await delete_through(cut, one_chunk, chunk, rest)

    async def enable_reclaim(self, max_bytes: int) -> str | None:
        return None  # autovacuum makes deleted rows' space reusable (docs/audit.md)

    async def reclaim(self, rest: Rest) -> int:
        return 0
