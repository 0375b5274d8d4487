"""Snapshots of the projection: taken every N events and on clean shutdown, loaded at startup.

A snapshot is only trusted after three checks: its bytes match its digest, it decodes, and the
chain hash it recorded matches the log at its seq (unless that event was compacted away). One
that fails any check is skipped with a warning for an older one, or a full replay: startup
never trusts a corrupt snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from typing import Final

from vm_registry.domain import snapshot
from vm_registry.domain.fold import State
from vm_registry.domain.model import Entry
from vm_registry.domain.outcome import Outcome
from vm_registry.persistence.errors import StoreCorrupt, StoreError
from vm_registry.persistence.snapshots import SnapshotInfo
from vm_registry.persistence.store import Store
from vm_registry.service.bootstrap import replay

log = logging.getLogger("vm_registry.snapshots")

# How long a snapshot's next piece waits for a commit to end when none is in flight: with an
# idle writer, a 100,000-VM snapshot (400 pieces) takes about 0.8 s longer, in the background.
PIECE_PAUSE: Final = 0.002


async def load_verified(store: Store, info: SnapshotInfo) -> State:
    """The snapshot's state, or StoreCorrupt saying why it cannot be trusted."""
    canonical = await store.snapshots.body(info.seq)
    if snapshot.digest(canonical) != info.digest:
        raise StoreCorrupt(f"snapshot at seq {info.seq} does not match its digest", info.seq)
    try:
        state = snapshot.decode(canonical)
    except ValueError as error:
        raise StoreCorrupt(f"snapshot at seq {info.seq}: {error}", info.seq) from error
    if state.revision != info.seq:
        raise StoreCorrupt(f"snapshot at seq {info.seq} claims revision {state.revision}", info.seq)
    stored = await store.log.hash_at(info.seq)
    if stored is None and info.seq >= store.log.first_seq:
        raise StoreCorrupt(f"snapshot at seq {info.seq} is beyond the log", info.seq)
    if stored is not None and stored != info.chain:
        raise StoreCorrupt(f"snapshot at seq {info.seq} disagrees with the hash chain", info.seq)
    return state


async def newest_valid(store: Store, upto: int | None = None) -> State | None:
    for info in await store.snapshots.infos():
        if upto is not None and info.seq > upto:
            continue
        try:
            return await load_verified(store, info)
        except StoreCorrupt as error:
            log.warning("ignoring snapshot: %s", error)
    return None


async def load_state(store: Store) -> State:
    """Startup: the newest valid snapshot plus the tail of the log after it."""
    base = await newest_valid(store)
    if base is None:
        first = store.log.first_seq
        if first > 1:
            raise StoreCorrupt(
                f"the log was compacted through seq {first - 1} and no valid snapshot "
                "covers it; run `vm-registry verify` on the database"
            )
        base = State()
    return await replay(store.log, base)


KEEP_RECENT = 10
SPARSE_FACTOR = 10


def thinned(seqs: list[int], every: int, cut: int) -> list[int]:
    """Which snapshots to delete. The newest `KEEP_RECENT` stay, so recent time travel and
    feed catch-up fold at most `every` events; older ones are thinned to one per
    `SPARSE_FACTOR * every` events, so any point costs at most ten times that. The snapshot at
    the compaction point is the chain's anchor and always stays."""
    newest_first = sorted(seqs, reverse=True)
    keep = set(newest_first[:KEEP_RECENT])
    keep.add(cut)
    stride = max(every, 1) * SPARSE_FACTOR
    buckets: set[int] = set()
    for seq in newest_first[KEEP_RECENT:]:
        if seq // stride not in buckets:
            buckets.add(seq // stride)
            keep.add(seq)
    return [seq for seq in seqs if seq not in keep]


class Snapshotter:
    """Takes a snapshot every `every` events, in the background, off the write path."""

    def __init__(
        self,
        store: Store,
        state: State,
        every: int,
        last_seq: int,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.state = state
        self.every = every
        self.last_seq = last_seq
        # Replicas on one log: only the leader writes and thins snapshots.
        self.is_leader = is_leader
        self._task: asyncio.Task[None] | None = None
        self._committed = asyncio.Event()

    def observe(self, outcomes: list[Outcome]) -> None:
        self._committed.set()
        if self.every <= 0 or self.state.revision - self.last_seq < self.every:
            return
        if self._task is not None and not self._task.done():
            return
        if not self.is_leader():
            return
        self._task = asyncio.create_task(self._take(*self._view()))

    def _view(self) -> tuple[list[Entry], int]:
        # Entries are immutable values, so a list of the current ones is a consistent view of
        # the projection at this revision, however the fold moves on while it is encoded. (A
        # C-level copy of pointers: well under a millisecond at 100,000 VMs.)
        return list(self.state.entries.values()), self.state.revision

    async def _take(self, entries: list[Entry], revision: int) -> None:
        try:
            # Read at the snapshot's own seq: with other processes appending, the log's head
            # may already be past what this projection has folded.
            chain = await self.store.log.hash_at(revision)
            if chain is None:
                log.warning("snapshot at seq %d skipped: the log no longer holds it", revision)
                return
            pieces = []
            for piece in snapshot.encode_pieces(entries, revision):
                pieces.append(piece)
                await self._between_commits()
            # bytes.join lets go of the GIL for large copies: the loop keeps running meanwhile.
            canonical = await asyncio.to_thread(b"".join, pieces)
            await self.store.snapshots.save(revision, chain, canonical)
            self.last_seq = revision
            log.info("snapshot written at seq %d (%d VMs)", revision, len(entries))
            # What the fleet gained since start is long-lived too (see the lifespan).
            gc.freeze()
            # Re-read the compaction point: another process may have compacted meanwhile, and
            # its anchor snapshot must never be thinned away.
            anchor = await self.store.log.refresh_first_seq() - 1
            stored = [info.seq for info in await self.store.snapshots.infos()]
            await self.store.snapshots.delete(thinned(stored, self.every, anchor))
        except StoreError as error:
            log.warning("snapshot at seq %d failed: %s", revision, error)

    async def _between_commits(self) -> None:
        """Wait for the writer's commit in flight to end (or PIECE_PAUSE, when none ends).

        A piece is Python on the loop's thread, holding the GIL. The database thread takes the
        GIL back after every SQLite step of a commit, and while the loop's thread computes, each
        take waits up to a switch interval (5 ms): pieces encoded back to back (with only
        `sleep(0)` between them, which never lets go of the GIL) held a 60-event commit for
        230 ms at 150,000 VMs, and every request in flight waited on it (the "convoy effect").
        Waiting here leaves the GIL to the commit, and the snapshot advances a piece per commit."""
        self._committed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PIECE_PAUSE):
                await self._committed.wait()

    async def final(self) -> None:
        """On clean shutdown: wait for a snapshot in flight, then take one at the head."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self.state.revision > self.last_seq and self.every > 0 and self.is_leader():
            await self._take(*self._view())
