"""What compaction does the same on every SQL backend: after the cut is recorded, the rows up
to it go in short transactions of `COMPACT_CHUNK` rows, so a live server's writes wait for one
chunk at most, never for the whole deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

COMPACT_CHUNK: Final = 20_000
# What a deletion awaits between its transactions (retention: a pause paced to its work).
Rest = Callable[[], Awaitable[None]]
# One chunk: the oldest rows up to the cut (params: the cut, the chunk's size).
DELETE_CHUNK: Final = (
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)"
)


async def delete_through(
    cut: int,
    delete_chunk: Callable[[int, int], Awaitable[int]],
    chunk: int = COMPACT_CHUNK,
    rest: Rest | None = None,
) -> int:
    """Call `delete_chunk(cut, chunk)` (one transaction, returning the rows it deleted) until
    a chunk comes back short, awaiting `rest()` between chunks; the rows deleted."""
    if chunk < 1:
        raise ValueError(f"a chunk holds at least one row, not {chunk}")
    dropped = 0
    while True:
        removed = await delete_chunk(cut, chunk)
        dropped += removed
        if removed < chunk:
            return dropped
        await (rest() if rest is not None else asyncio.sleep(0))  # the writer's turn
