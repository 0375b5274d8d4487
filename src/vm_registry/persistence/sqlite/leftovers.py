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

log = logging.getLogger("vm_registry.store")

CHUNK = 20_000


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
    removed = 0
    while True:
        cursor = await conn.execute(
            "DELETE FROM events WHERE seq IN "
            "(SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
            (cut, CHUNK),
        )
        count = cursor.rowcount
        await conn.commit()
        removed += count
        if count < CHUNK:
            break
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


async def cut_time(conn: aiosqlite.Connection) -> tuple[int, int] | None:
    """(cut, time of the event at the cut), if a compaction recorded both."""
    async with conn.execute(
        "SELECT key, value FROM meta WHERE key IN ('compacted_through', 'compacted_through_at')"
    ) as cur:
        found: dict[str, str] = {str(key): str(value) for key, value in await cur.fetchall()}
    if "compacted_through" not in found or "compacted_through_at" not in found:
        return None
    return int(found["compacted_through"]), int(found["compacted_through_at"])
