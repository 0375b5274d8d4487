"""Startup replay's reader: one long query, read in small chunks on the loop's own thread.

A plain `sqlite3` connection, opened read-only for this query alone, steps one statement with
`fetchmany` (no query per chunk), and the chunks are one read transaction: a consistent
snapshot of the log. The connection is closed when the caller stops (at the end, on an error,
or by leaving the loop early).

Why not a thread: replay is CPU-bound, and the sqlite3 module takes the GIL back after every
row it steps, so a reader thread and the fold trade the GIL instead of overlapping; the rows
were also built on one core and folded on another. Measured on the bench's 1M-event log (in
process, CPU time, docs/benchmarks.md P7): a thread fetching a chunk at a time (as aiosqlite
does) and a dedicated thread reading one chunk ahead each cost 0.15 to 0.3 s more CPU than
reading here. Small chunks matter as much: the rows of a chunk should still be in the core's
cache when the fold reaches them (1,000 rows are ~200 KB; 5,000 cost ~0.3 s more per million
rows). Reading a chunk blocks the loop for about a millisecond, no longer than folding it
does, and the loop gets a turn between chunks; only startup replays, before the server
listens.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from vm_registry.persistence.sqlite.errors import translate


async def read_in_chunks(
    path: Path, sql: str, params: Sequence[Any], size: int, busy_timeout_ms: int
) -> AsyncIterator[list[Any]]:
    """The rows of `sql`, `size` at a time, each chunk read when the caller asks for it."""
    try:
        # Read-only: this connection can never write, whatever the query says.
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise translate(error, f"reading {path}", path) from error
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor = connection.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows
            del rows  # before the next chunk is read: one chunk alive at a time
            await asyncio.sleep(0)
    except sqlite3.Error as error:
        raise translate(error, f"reading {path}", path) from error
    finally:
        connection.close()
