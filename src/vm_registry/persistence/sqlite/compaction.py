"""Compaction of the SQLite log: record the cut first, then delete in short transactions, each
on the writer connection between the writer's own transactions.

Space: new logs are created with `auto_vacuum = INCREMENTAL` (log.py), so the pages a cut
frees can be handed back to the file system a few at a time (`reclaim`), each step a short
transaction under the log's lock. A log created before that needs one full VACUUM to switch,
which rewrites the file and holds the lock throughout: `enable_reclaim` does it at startup
(before the server serves) when the file is small enough to take seconds, and otherwise says
how to do it offline. Without it freed pages are still reused, so the file stops growing; it
only does not shrink.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import aiosqlite

from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sql.compaction import COMPACT_CHUNK, Rest, delete_through
from vm_registry.persistence.sqlite.checkpoints import checkpoint
from vm_registry.persistence.sqlite.errors import translated
from vm_registry.persistence.sqlite.leftovers import delete_chunk, record_cut_time
from vm_registry.persistence.sqlite.log import SqliteEventLog

logger = logging.getLogger("vm_registry.store")

# Pages `reclaim` hands back to the file system per transaction (4 KiB each: 256 KiB). Each
# is moved from the file's end into a free slot under the log's lock, with its parent's
# pointer: a small batch keeps the writer's wait for the lock short.
RECLAIM_PAGES: Final = 64
INCREMENTAL: Final = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


class SqliteCompaction:
    def __init__(self, log: SqliteEventLog) -> None:
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

            return await delete_through(cut, one_chunk, chunk, resting(log, rest))

    async def enable_reclaim(self, max_bytes: int) -> str | None:
        event_log = self.log
        conn = event_log.writable()
        with translated(f"vacuuming {event_log.path}", event_log.path):
            rows = list(await conn.execute_fetchall("PRAGMA auto_vacuum"))
            if rows and int(rows[0][0]) == INCREMENTAL:
                return None
            try:
                size = event_log.path.stat().st_size
            except OSError as error:
                return f"cannot read the size of {event_log.path}: {error}"
            if size > max_bytes:
                return (
                    f"{event_log.path} was created without incremental auto-vacuum and is too "
                    f"large ({size >> 20} MiB) to convert while starting: freed space is reused "
                    "but the file does not shrink; convert it once with the server stopped: "
                    f"sqlite3 {event_log.path} 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM'"
                )
            async with event_log.tx_lock:
                await conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                await conn.execute("VACUUM")
        logger.info("converted %s to incremental auto-vacuum (%d MiB)", event_log.path, size >> 20)
        return None

    async def reclaim(self, rest: Rest) -> int:
        """Hand the free pages back to the file system, RECLAIM_PAGES per transaction with
        `rest()` between them. Returns the pages handed back."""
        event_log = self.log
        conn = event_log.writable()
        returned = 0
        between = resting(event_log, rest)
        with translated(f"reclaiming space in {event_log.path}", event_log.path):
            while True:
                async with event_log.tx_lock:
                    free = await _free_pages(conn)
                    if free == 0:
                        return returned
                    # Through `execute`, the sqlite3 module steps the pragma once, and SQLite
                    # moves one page per step: a batch was one page, and a step's freed pages
                    # took seconds to give back. A script runs the statement to its end.
                    await conn.executescript(f"PRAGMA incremental_vacuum({RECLAIM_PAGES})")
                    returned += free - await _free_pages(conn)
                await between()


async def _free_pages(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA freelist_count"))
    return int(rows[0][0]) if rows else 0


def resting(log: SqliteEventLog, rest: Rest | None) -> Rest:
    """Between two of compaction's transactions: `rest()`, and meanwhile a checkpoint.

    Deletions and vacuums write many pages (a chunk of rows rewrites an index page per VM);
    left to a commit's checkpoint, that commit is the writer's, under the lock: a 250-row
    deletion once took up to 285 ms in a loaded run with it, at most 26 ms without."""

    async def between() -> None:
        await asyncio.gather(checkpoint(log), rest() if rest is not None else asyncio.sleep(0))

    return between
