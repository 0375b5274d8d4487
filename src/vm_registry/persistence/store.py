"""The storage contract every backend implements, and the errors it may raise.

The interface is deliberately narrow: append a batch, read after a position, know the head.
Everything else (validation, ordering, the fold) happens above it, in the single writer. A
backend translates its driver's exceptions into the errors below at its edge, so nothing above
the store ever imports a database driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vm_registry.domain.events import Event

GENESIS_HASH = bytes(32)


class StoreError(Exception):
    """Base of storage failures. `reason` is the cause alone, fit to show a client: the full
    message may name files and paths, which belong only in the server log."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class StoreUnavailable(StoreError):
    """The store cannot write right now (disk full, read-only, I/O error, locked). Nothing of
    the failed batch was written; the caller may retry later."""


class StoreCorrupt(StoreError):
    """The stored log cannot be trusted (undecodable row, broken chain, gap)."""

    def __init__(self, message: str, seq: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason)
        self.seq = seq


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    seq: int
    chain: bytes  # the hash chain's value at `seq`, so the chain stays checkable after compaction
    digest: bytes  # sha256 of the snapshot's canonical bytes


# A heartbeat during startup replay: (seq, vm_id, at). See `EventStore.scan_for_replay`.
Touch = tuple[int, str, int]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event the writer decided on, before the store gives it a seq."""

    type: str
    vm_id: str
    at: int
    actor: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventQuery:
    after: int = 0
    limit: int = 100
    vm_id: str | None = None
    types: tuple[str, ...] | None = None
    since: int | None = None  # epoch ms, inclusive
    until: int | None = None  # epoch ms, inclusive
    upto: int | None = None  # highest seq to include


class EventStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def head(self) -> int:
        """Seq of the last committed event (0 for an empty log)."""

    @property
    def first_seq(self) -> int:
        """Seq of the oldest event still held; anything before it was compacted away."""

    @property
    def last_hash(self) -> bytes:
        """The hash chain's value at `head`."""

    async def append(self, batch: Sequence[NewEvent]) -> list[Event]:
        """Durably append `batch` in one transaction, assigning consecutive seqs."""

    async def read(self, query: EventQuery) -> list[Event]: ...

    def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        """Every event after `after` in seq order, in large chunks (for replay)."""

    def scan_for_replay(self, after: int = 0) -> AsyncIterator[list[Event | Touch]]:
        """Every event after `after`, heartbeats as bare `Touch` tuples (startup's fast path)."""

    async def seq_at_time(self, at: int) -> int:
        """The last seq whose event happened at or before `at` (0 if none)."""

    def scan_hashes(
        self, after: int = 0, upto: int | None = None
    ) -> AsyncIterator[list[tuple[Event, bytes]]]:
        """Like `scan`, with each event's stored chain hash (for verification)."""

    async def hash_at(self, seq: int) -> bytes | None: ...

    async def vm_known(self, vm_id: str) -> bool:
        """Whether the id ever appeared in the log, compacted history included."""

    async def refresh_first_seq(self) -> int:
        """Re-read the compaction point, which another process may have moved."""

    async def save_snapshot(self, seq: int, chain: bytes, canonical: bytes) -> None: ...

    async def snapshots(self) -> list[SnapshotInfo]:
        """Every stored snapshot, newest first."""

    async def snapshot_body(self, seq: int) -> bytes:
        """The canonical bytes of the snapshot at `seq`."""

    async def delete_snapshots(self, seqs: Sequence[int]) -> None: ...

    async def compact(self, cut: int, chain: bytes, canonical: bytes) -> int:
        """Store a snapshot at `cut`, then drop every event up to it. Returns events dropped."""
