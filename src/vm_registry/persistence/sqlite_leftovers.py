"""Removing rows a crashed compaction left below its cut.

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
