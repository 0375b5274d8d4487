"""Compaction: dropping history before a cut, leaving a snapshot there to anchor the chain."""

from __future__ import annotations

from typing import Protocol

from vm_registry.persistence.sql.compaction import COMPACT_CHUNK, Rest


class Compaction(Protocol):
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
        """Store a snapshot at `cut` and record the cut (from then on, everything up to it is
        gone for readers), then delete the events up to it in transactions of at most `chunk`
        rows, awaiting `rest()` between them. Returns the number of events deleted.

        The time of the event at the cut is recorded too (`EventLog.compacted_at`): read from
        the log, or `cut_at` where the log does not hold that event (a copy starting at the
        cut). On an empty log, the log then starts at the cut: its head is `cut`, its chain
        value `chain`."""

    async def enable_reclaim(self, max_bytes: int) -> str | None:
        """Make `reclaim` able to give space back, converting the database if it is at most
        `max_bytes`; otherwise why it cannot (None when it can)."""

    async def reclaim(self, rest: Rest) -> int:
        """Give freed space back to the file system in short transactions, awaiting `rest()`
        between them; the pages given back."""
