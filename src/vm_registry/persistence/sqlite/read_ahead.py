"""One long query read in chunks on a thread of its own, the next chunk read while the caller
works on the current one: startup replay's reader.

Why not the log's aiosqlite reader connection: startup replay reads the whole log once, and
each chunk fetched through aiosqlite made the loop wait for the fetch and the thread wait for
the fold. Here a plain `sqlite3` connection, opened read-only for this query alone, lives on a
single worker thread: one statement stepped by `fetchmany` (no query per chunk), and one fetch
always outstanding while the caller folds. SQLite releases the GIL while it steps, so part of
the reading overlaps the fold.

Bounded: at most two chunks exist at once, the one the caller holds and the one being read.
The statement runs in one read transaction, so the chunks are a consistent snapshot of the
log, and the connection is closed on the same thread when the caller stops (at the end, on
an error, or by leaving the loop early).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vm_registry.persistence.sqlite.errors import translate


async def read_ahead(
    path: Path, sql: str, params: Sequence[Any], size: int, busy_timeout_ms: int
) -> AsyncIterator[list[Any]]:
    """The rows of `sql`, `size` at a time, the next chunk read while the caller holds one."""
    loop = asyncio.get_running_loop()
    cursor: sqlite3.Cursor | None = None

    def start() -> sqlite3.Cursor:
        # Read-only: this connection can never write, whatever the query says.
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            return connection.execute(sql, params)
        except BaseException:
            connection.close()
            raise

    def stop() -> None:
        if cursor is not None:
            cursor.connection.close()

    # One worker: every call below runs on the same thread, in the order it was submitted,
    # so the connection never changes threads and `stop` runs after any fetch in flight.
    with ThreadPoolExecutor(1, thread_name_prefix="replay-reader") as reader:
        try:
            cursor = await loop.run_in_executor(reader, start)
            ahead = loop.run_in_executor(reader, cursor.fetchmany, size)
            while True:
                rows = await ahead
                if not rows:
                    return
                more = len(rows) == size
                if more:
                    ahead = loop.run_in_executor(reader, cursor.fetchmany, size)
                yield rows
                del rows  # before the next chunk arrives: two chunks at most, not three
                if not more:
                    return
        except sqlite3.Error as error:
            raise translate(error, f"reading {path}", path) from error
        finally:
            await asyncio.shield(loop.run_in_executor(reader, stop))
