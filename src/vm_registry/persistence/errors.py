"""The errors every backend raises, whatever its driver.

A backend translates its driver's exceptions into these at its edge (`raise ... from error`),
so nothing above `persistence/` ever imports a database driver or catches its exceptions.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of storage failures. `reason` is the cause alone, fit to show a client: the full
    message may name files, hosts and paths, which belong only in the server log."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class StoreUnavailable(StoreError):
    """The store cannot serve right now (disk full, read-only, I/O error, locked, server
    unreachable). Nothing of the failed write was kept; the caller may retry later."""


class StoreCorrupt(StoreError):
    """The stored log cannot be trusted (undecodable row, broken chain, gap)."""

    def __init__(self, message: str, seq: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason)
        self.seq = seq


class SeqMismatch(StoreError):
    """An append whose seqs do not continue the log's head under the lock: the writer
    numbered against a head that is not the log's. Nothing was written."""
