"""Cutting the log: drop the events up to a cut, after (optionally) archiving them.

`vm-registry compact` (offline, one cut: `cut_log`) and retention (the leader, in steps on a
live server: `cut_live`) cut the same way. Order matters for safety: the state at the cut is
computed and the dropped events are exported, the archive synced and renamed into place; only
then, in one transaction, is the snapshot at the cut written and the cut recorded (the events
are deleted after it). A crash before that commit leaves the log untouched, and at most an
archive of events the log still holds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vm_registry.domain import snapshot
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.archive import ArchiveWriter
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.store import Store
from vm_registry.service.snapshots import PIECE_PAUSE

# Events a live cut reads, folds and archives at a time, and rows it deletes per transaction.
# A deletion's cost is in pages more than rows: the (vm, seq) index puts each VM's rows on its
# own leaf pages, so a chunk of rows from N VMs rewrites about N index pages.
LIVE_PIECE: Final = 250
# A live cut rests this many times as long as its last piece took: it takes at most a third of
# the time (and of a core), whatever the machine's speed and load. (At 1 the steady-state
# window of P16's plateau moved less, at 3 more; the live writes' p99 could not tell them
# apart on the loaded machine.)
REST_RATIO: Final = 2.0


class Pacer:
    """Rests between a live cut's pieces, in proportion to the work of the piece before."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def rest(self) -> None:
        worked = time.perf_counter() - self._since
        await asyncio.sleep(max(PIECE_PAUSE, worked * REST_RATIO))
        self._since = time.perf_counter()


@dataclass(frozen=True, slots=True)
class Cut:
    cut: int
    dropped: int
    archived: int
    archive_bytes: int = 0


async def chain_before(store: Store, first: int) -> bytes:
    """The chain value just before `first`, the oldest event held: genesis, or the snapshot
    the last compaction left at its cut."""
    if first <= 1:
        return GENESIS_HASH
    infos = {info.seq: info for info in await store.snapshots.infos()}
    if first - 1 not in infos:
        raise StoreCorrupt(f"no snapshot at the compaction point {first - 1}", first - 1)
    return infos[first - 1].chain


async def cut_log(store: Store, cut: int, state: State, archive_path: Path | None) -> Cut:
    """Drop the events after the log's first up to `cut` in one go (`vm-registry compact`,
    offline); `state` is the state at `cut`."""
    log = store.log
    first = log.first_seq
    chain = await _chain_at(store, cut)
    archived = size = 0
    if archive_path is not None:
        writer = ArchiveWriter(archive_path, await chain_before(store, first))
        try:
            async for chunk in log.scan_hashes(after=first - 1, upto=cut):
                writer.write(chunk)
            archived = writer.finish()
        except BaseException:
            writer.abandon()
            raise
        size = archive_path.stat().st_size
    dropped = await store.compaction.compact(cut, chain, snapshot.encode(state))
    return Cut(cut, dropped, archived, size)


async def cut_live(
    store: Store, base: State, cut: int, archive_path: Path | None
) -> tuple[Cut, State]:
    """Retention's cut on a live server: `base` is the state just before the log's first
    event, which this folds forward (the caller gives it away); returns the cut and the state
    at it.

    Everything is done a piece of at most LIVE_PIECE events at a time, with a rest between
    pieces paced to their work (`Pacer`): the events are read, folded and archived a piece
    per read, the snapshot at the cut encoded in pieces, and the rows deleted a piece per
    transaction. Python on the loop holds the GIL, which the writer's commit (in the database
    thread) needs after every SQLite step, and a deletion holds the log's lock, which the
    writer's next commit waits for: deleting a 5,000-event step at once took 20 to 155 ms on a
    loaded machine (P16 in docs/benchmarks.md), a piece of 250 rows a few milliseconds."""
    log = store.log
    first = log.first_seq
    chain = await _chain_at(store, cut)
    state = base
    pacer = Pacer()
    writer = None
    if archive_path is not None:
        writer = ArchiveWriter(archive_path, await chain_before(store, first))
    try:
        for after in range(first - 1, cut, LIVE_PIECE):
            async for rows in log.scan_hashes(after=after, upto=min(after + LIVE_PIECE, cut)):
                for event, _ in rows:
                    apply(state, event)
                if writer is not None:
                    writer.write(rows)
            await pacer.rest()
        # Closing flushes the last compressed block and fsyncs: off the loop.
        archived = await asyncio.to_thread(writer.finish) if writer is not None else 0
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    if state.revision != cut:
        raise StoreCorrupt(f"folding up to seq {cut} ended at {state.revision}", cut)
    size = archive_path.stat().st_size if archive_path is not None else 0
    dropped = await store.compaction.compact(
        cut, chain, await _encoded(state, pacer), chunk=LIVE_PIECE, rest=pacer.rest
    )
    return Cut(cut, dropped, archived, size), state


async def _chain_at(store: Store, cut: int) -> bytes:
    chain = await store.log.hash_at(cut)
    if chain is None:
        raise StoreCorrupt(f"event {cut} is missing; run verify", cut)
    return chain


async def _encoded(state: State, pacer: Pacer) -> bytes:
    """The snapshot at the cut, a piece at a time with a rest between pieces: on a live server
    a large fleet never holds the loop (or the GIL, which the writer's commits need) for more
    than one piece (see Snapshotter._between_commits)."""
    pieces = []
    for piece in snapshot.encode_pieces(list(state.entries.values()), state.revision):
        pieces.append(piece)
        await pacer.rest()
    return await asyncio.to_thread(b"".join, pieces)
