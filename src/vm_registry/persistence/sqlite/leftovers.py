"""What a compaction leaves behind: the time of its cut, and rows a crash left below it.

The cut's time (the `at` of the event at the cut) lets `asOf` answer a time between the cut
and the first event kept from the snapshot at the cut, which without it is indistinguishable
from a time before the cut. Logs compacted before this was recorded answer 410 there, as before.

Rows a crashed compaction left below its cut:

A compaction records its cut (and the snapshot there) in one short transaction, then deletes
the rows below it in chunks, so that a live server's writes never wait long. A crash between
chunks leaves rows at or below the cut: nothing reads them (readers start after the cut), but
they take space and would be exported again by nobody. Opening the store writable (a server
starting, or the next `vm-registry compact`) finishes the job.
"""

from __future__ import annotations

import logging

import aiosqlite

from vm_registry.persistence.sql.compaction import DELETE_CHUNK, delete_through

log = logging.getLogger("vm_registry.store")


async def delete_chunk(conn: aiosqlite.Connection, cut: int, size: int) -> int:
    """One committed chunk of the rows up to `cut`; how many it deleted."""
    cursor = await conn.execute(DELETE_CHUNK, (cut, size))
    count = cursor.rowcount
    await conn.commit()
    return int(count)


async def remove_compacted_rows(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT value FROM meta WHERE key = 'compacted_through'") as cur:
        row = await cur.fetchone()
    if row is None:
        return 0
    cut = int(row[0])
    async with conn.execute("SELECT MIN(seq) FROM events") as cur:
        lowest = await cur.fetchone()
    if lowest is None or lowest[0] is None or int(lowest[0]) > cut:
        return 0  # the usual case: nothing left behind, and no write transaction for it
    removed = await delete_through(cut, lambda cut, size: delete_chunk(conn, cut, size))
    if removed:
        log.warning(
            "removed %d events at or below seq %d that an interrupted compaction left behind",
            removed,
            cut,
        )
    return removed


async def record_cut_time(conn: aiosqlite.Connection, cut: int) -> None:
    """Inside the compaction's first transaction, while the event at the cut still exists."""
    await conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) "
        "SELECT 'compacted_through_at', CAST(at AS TEXT) FROM events WHERE seq = ?",
        (cut,),
    )
