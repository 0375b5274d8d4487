"""Compaction: dropping history before a cut, leaving a snapshot there to anchor the chain."""

from __future__ import annotations

from typing import Protocol


class Compaction(Protocol):
    async def compact(self, cut: int, chain: bytes, canonical: bytes) -> int:
        """Store a snapshot at `cut` and record the cut (from then on, everything up to it is
        gone for readers), then delete the events up to it in short transactions. Returns the
        number of events deleted."""
