"""Compaction: shed history before a cut, keeping the log verifiable from the cut.

Order matters for safety: first the state at the cut is computed and (optionally) the dropped
events are exported; only then, in one transaction, is the snapshot at the cut written and the
events deleted. A crash before that commit leaves the log untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vm_registry.audit import archive
from vm_registry.audit.replay import state_at
from vm_registry.domain import snapshot
from vm_registry.domain.errors import Invalid
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.store import Store


@dataclass(frozen=True, slots=True)
class Compaction:
    cut: int
    dropped: int
    archived: int


async def compact(store: Store, cut: int, archive_path: Path | None = None) -> Compaction:
    log = store.log
    first = await log.refresh_first_seq()
    if cut > log.head:
        raise Invalid(f"cannot compact through seq {cut}: the head is {log.head}")
    if cut < first:
        return Compaction(first - 1, 0, 0)  # already compacted that far
    chain = await log.hash_at(cut)
    if chain is None:
        raise StoreCorrupt(f"event {cut} is missing; run verify", cut)
    state = await state_at(store, cut)
    archived = 0
    if archive_path is not None:
        prev = GENESIS_HASH
        if first > 1:
            infos = {info.seq: info for info in await store.snapshots.infos()}
            if first - 1 not in infos:
                raise StoreCorrupt(f"no snapshot at the compaction point {first - 1}", first - 1)
            prev = infos[first - 1].chain
        writer = archive.ArchiveWriter(archive_path, prev)
        try:
            async for chunk in log.scan_hashes(after=first - 1, upto=cut):
                writer.write(chunk)
        except BaseException:
            writer.abandon()
            raise
        archived = writer.finish()
    dropped = await store.compaction.compact(cut, chain, snapshot.encode(state))
    return Compaction(cut, dropped, archived)
