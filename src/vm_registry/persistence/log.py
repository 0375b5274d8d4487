"""The event log: the one thing every replica shares, and the narrow protocol over it.

Writing goes through one global lock (`locked()`): under it, the writer sees the log's true
head, reads what others committed since its own position (`newer`), decides its batch, and
appends events whose seqs it chose itself. The transaction checks that those seqs continue the
head, chains the hashes, and commits when the block exits cleanly; so seq order is commit order
on every backend. A writer that is alone on the log decides against the head it already knows
(`locked(assume_head=...)`), and the head is checked under the lock as the batch is stored:
the lock, the check, the rows and the commit are one step (for SQLite one trip to its thread
instead of two), and a moved head writes nothing and raises `SeqMismatch`.

Reading needs no lock. Following the log (`heads()`) yields the head whenever it may have
moved. `leadership()` is a `Lease` that at most one process holds at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from vm_registry.domain.events import Event, canonical_bytes
from vm_registry.persistence.errors import SeqMismatch

GENESIS_HASH: Final = bytes(32)


@dataclass(frozen=True, slots=True)
class ReplayChunk:
    """Rows of the log as a backend read them, for `domain/replay.py` to fold directly: startup
    replays a million heartbeats, and making each into an event or a tuple before folding it
    was about two fifths of its CPU (docs/benchmarks.md, P7). A row begins
    `(seq, kind, vm, at)`; `heartbeat` is the kind of a heartbeat row, `names` maps `vm` to
    the VM's id, and `decode` makes any row into its Event. Every VM and actor the rows name
    is in `names` and known to `decode`, unless the log is broken."""

    rows: Sequence[Any]
    heartbeat: object
    names: Mapping[Any, str]
    decode: Callable[[Any], Event]


@dataclass(frozen=True, slots=True)
class EventQuery:
    after: int = 0
    limit: int = 100
    vm_id: str | None = None
    types: tuple[str, ...] | None = None
    since: int | None = None  # epoch ms, inclusive
    until: int | None = None  # epoch ms, inclusive
    upto: int | None = None  # highest seq to include
    # End the page at the event whose data bring it to this many bytes (a page shorter than
    # `limit` then is not the end); None: `limit` alone.
    max_bytes: int | None = None


class LogTransaction(Protocol):
    """The log under its global write lock. Valid only inside `async with log.locked()`."""

    @property
    def head(self) -> int:
        """The log's true head under the lock (moves with each `append`)."""

    @property
    def last_hash(self) -> bytes:
        """The hash chain's value at `head`."""

    async def newer(self, after: int) -> list[Event]:
        """Every event after `after` up to `head`, in seq order: what others committed since
        a replica last folded."""

    async def append(self, events: Sequence[Event]) -> None:
        """Add `events`, whose seqs must be `head + 1, head + 2, ...` (else `SeqMismatch`).
        They become durable, and visible to others, when the `locked()` block exits cleanly."""


class Lease(Protocol):
    """A lease at most one process holds at a time: the leadership of work only a leader may
    do (`service/leadership.py` campaigns for it)."""

    @property
    def held(self) -> bool:
        """Whether this lease is held right now: False again once its lock was lost."""

    @property
    def where(self) -> str:
        """What the lease is, for the server's log: the lock file, or the database's lock."""

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits. True if held afterwards."""

    async def release(self) -> None: ...


class EventLog(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def head(self) -> int:
        """The highest seq this handle has seen committed (at open, by its own appends, by
        `locked()` and by `heads()`); 0 for an empty log."""

    @property
    def first_seq(self) -> int:
        """Seq of the oldest event still held; anything before it was compacted away."""

    @property
    def last_hash(self) -> bytes:
        """The hash chain's value at `head`."""

    def locked(self, assume_head: int | None = None) -> AbstractAsyncContextManager[LogTransaction]:
        """The global write lock, held until the block exits: COMMIT on a clean exit (durable
        before it returns), ROLLBACK on an exception.

        `assume_head`: the caller believes the log's head is this handle's own `head` (nobody
        else appended since). The backend may then take the lock only as the block exits, check
        that the head is still that one, and append and commit in the same step; if it moved,
        nothing is written and the block raises `SeqMismatch` (decide again, without
        assuming). Whatever needs the database inside the block takes the lock first."""

    async def read(self, query: EventQuery) -> list[Event]: ...

    async def read_after(self, seq: int, limit: int) -> list[Event]:
        """Up to `limit` events after `seq`, in seq order. A plain read: no lock."""

    def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        """Every event after `after` in seq order, in large chunks (for replay)."""

    def scan_for_replay(self, after: int = 0) -> AsyncIterator[ReplayChunk]:
        """Every event after `after` in seq order, as stored rows (startup's fast path). Each
        chunk is read when it is asked for, so a caller that lets go of one before asking
        for the next holds one chunk's rows at a time, or two."""

    def scan_hashes(
        self, after: int = 0, upto: int | None = None
    ) -> AsyncIterator[list[tuple[Event, bytes]]]:
        """Like `scan`, with each event's stored chain hash (for verification)."""

    async def hash_at(self, seq: int) -> bytes | None: ...

    async def seq_at_time(self, at: int) -> int:
        """The last seq whose event happened at or before `at` (0 if none)."""

    async def vm_known(self, vm_id: str) -> bool:
        """Whether the id ever appeared in the log, compacted history included."""

    async def refresh_first_seq(self) -> int:
        """Re-read the compaction point, which another process may have moved."""

    async def compacted_at(self) -> tuple[int, int] | None:
        """(cut, time of the event at the cut) of the last compaction, if it recorded both:
        `asOf` between the cut and the first event kept is answered from the snapshot."""

    def heads(self) -> AsyncIterator[int]:
        """The log's head, first at once and then whenever it may have moved (also after
        appends by other processes). Never ends by itself; unavailability between polls is
        retried, not raised."""

    def leadership(self) -> Lease:
        """A new lease object on this log (not yet acquired)."""


def check_continues(events: Sequence[Event], head: int) -> None:
    """Raise `SeqMismatch` unless `events` number on from `head` without a gap."""
    for offset, event in enumerate(events, start=1):
        if event.seq != head + offset:
            raise SeqMismatch(
                f"event seq {event.seq} does not continue the log at {head + offset - 1}",
                reason="the writer numbered against a stale head",
            )


def chain_hashes(events: Sequence[Event], last_hash: bytes) -> list[bytes]:
    """Each event's chain value: sha256(previous value + the event's canonical bytes)."""
    hashes = []
    chain = last_hash
    for event in events:
        chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
        hashes.append(chain)
    return hashes
