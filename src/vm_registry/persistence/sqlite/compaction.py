"""Compaction of the SQLite log: record the cut first, then delete in short transactions, each
on the writer connection between the writer's own transactions."""

from __future__ import annotations

from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sql.compaction import delete_through
from vm_registry.persistence.sqlite.errors import translated
from vm_registry.persistence.sqlite.leftovers import delete_chunk, record_cut_time
from vm_registry.persistence.sqlite.log import SqliteEventLog


class SqliteCompaction:
    def __init__(self, log: SqliteEventLog) -> None:
        self.log = log

    async def compact(
        self, cut: int, chain: bytes, canonical: bytes, cut_at: int | None = None
    ) -> int:
        """First, in one short transaction, the snapshot at the cut and the cut itself are
        recorded: from then on, readers treat everything up to the cut as gone. Then the rows
        are deleted in chunks (`sql/compaction.py`)."""
        log = self.log
        conn = log.writable()
        body, digest = await packed(canonical)
        with translated(f"compacting {log.path}", log.path):
            async with log.tx_lock:
                try:
                    await conn.execute(
                        "INSERT OR REPLACE INTO snapshots (seq, chain, digest, body) "
                        "VALUES (?, ?, ?, ?)",
                        (cut, chain, digest, body),
                    )
                    # Snapshots before the cut can no longer be checked against a refold.
                    await conn.execute("DELETE FROM snapshots WHERE seq < ?", (cut,))
                    await conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_through', ?)",
                        (str(cut),),
                    )
                    await record_cut_time(conn, cut)
                    if cut_at is not None:
                        await conn.execute(
                            "INSERT OR REPLACE INTO meta (key, value) "
                            "VALUES ('compacted_through_at', ?)",
                            (str(cut_at),),
                        )
                    await conn.commit()
                except BaseException:
                    await log.rollback()
                    raise
            await log.refresh_first_seq()

            async def one_chunk(cut: int, size: int) -> int:
                async with log.tx_lock:
                    try:
                        return await delete_chunk(conn, cut, size)
                    except BaseException:
                        await log.rollback()
                        raise

            return await delete_through(cut, one_chunk)
