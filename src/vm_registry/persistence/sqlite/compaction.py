"""Compaction of the SQLite log: record the cut first, then delete in short transactions."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Final

from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sqlite.errors import translate
from vm_registry.persistence.sqlite.leftovers import record_cut_time
from vm_registry.persistence.sqlite.log import SqliteEventLog

COMPACT_CHUNK: Final = 20_000


class SqliteCompaction:
    def __init__(self, log: SqliteEventLog) -> None:
        self.log = log

    async def compact(
        self, cut: int, chain: bytes, canonical: bytes, cut_at: int | None = None
    ) -> int:
        """First, in one short transaction, the snapshot at the cut and the cut itself are
        recorded: from then on, readers treat everything up to the cut as gone. Then the rows
        are deleted in small transactions, so a live server's writes wait for one chunk at
        most, never for the whole deletion."""
        log = self.log
        conn = log.writable()
        body, digest = await packed(canonical)
        dropped = 0
        try:
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
            while True:
                async with log.tx_lock:
                    try:
                        cursor = await conn.execute(
                            "DELETE FROM events WHERE seq IN "
                            "(SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
                            (cut, COMPACT_CHUNK),
                        )
                        removed = cursor.rowcount
                        await conn.commit()
                    except BaseException:
                        await log.rollback()
                        raise
                dropped += removed
                if removed < COMPACT_CHUNK:
                    break
                await asyncio.sleep(0)
        except sqlite3.Error as error:
            raise translate(error, f"compacting {log.path}", log.path) from error
        return int(dropped)
