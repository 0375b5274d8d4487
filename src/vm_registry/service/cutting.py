"""Cutting the log: drop the events up to a cut, after (optionally) archiving them.

Shared by `vm-registry compact` (offline, one cut) and retention (the leader, in steps). Order
matters for safety: the caller computes the state at the cut; the dropped events are exported
and the archive renamed into place and synced; only then, in one transaction, is the snapshot
at the cut written and the cut recorded (the events are deleted after it). A crash before that
commit leaves the log untouched, and at most an archive of events the log still holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from vm_registry.domain import snapshot
from vm_registry.domain.fold import State
from vm_registry.persistence.archive import ArchiveWriter
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.store import Store
from vm_registry.service.snapshots import PIECE_PAUSE


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


async def cut_log(
    store: Store, cut: int, state: State, archive_path: Path | None, *, offload: bool = False
) -> Cut:
    """Drop the events after the log's first up to `cut`; `state` is the state at `cut`.
    `offload` (a live server) compresses the archive in a thread and encodes the snapshot at
    the cut in pieces, so neither holds the server's loop."""
    log = store.log
    first = log.first_seq
    chain = await log.hash_at(cut)
    if chain is None:
        raise StoreCorrupt(f"event {cut} is missing; run verify", cut)
    archived = size = 0
    if archive_path is not None:
        writer = ArchiveWriter(archive_path, await chain_before(store, first))
        try:
            async for chunk in log.scan_hashes(after=first - 1, upto=cut):
                if offload:
                    await asyncio.to_thread(writer.write, chunk)
                else:
                    writer.write(chunk)
            archived = await asyncio.to_thread(writer.finish) if offload else writer.finish()
        except BaseException:
            writer.abandon()
            raise
        size = archive_path.stat().st_size
    canonical = await _encoded(state) if offload else snapshot.encode(state)
    dropped = await store.compaction.compact(cut, chain, canonical)
    return Cut(cut, dropped, archived, size)


async def _encoded(state: State) -> bytes:
    """The snapshot at the cut, a piece at a time with a short sleep between pieces: on a live
    server a large fleet never holds the loop (or the GIL, which the writer's commits need)
    for more than one piece (see Snapshotter._between_commits)."""
    pieces = []
    for piece in snapshot.encode_pieces(list(state.entries.values()), state.revision):
        pieces.append(piece)
        await asyncio.sleep(PIECE_PAUSE)
    return await asyncio.to_thread(b"".join, pieces)
