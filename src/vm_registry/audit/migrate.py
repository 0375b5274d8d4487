"""`migrate`: copy a log between backends (SQLite to PostgreSQL and back), seqs, hashes and
snapshots included, then prove the copy with `verify`.

The copy is made of the same events under the same seqs: the target's transactions compute the
hash chain afresh, and each chunk's last hash must equal the source's stored one, so a copy that
differs in a single byte stops at the chunk where it went wrong. A compacted source starts the
target at its compaction point (the snapshot there, and the cut's time). The target must be
empty: a migration never merges two logs.

The source is read as it is when the copy starts (up to its head then): a server still writing
to it keeps going, and what it appends later is not in the copy. Stop the writers first when
moving for good (docs/scale-out.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vm_registry.audit.verify import Report, verify
from vm_registry.domain.errors import Invalid
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.snapshots import SnapshotInfo
from vm_registry.persistence.store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Migration:
    first_seq: int
    head: int
    events: int
    snapshots: int
    report: Report


async def is_empty(store: Store) -> bool:
    log = store.log
    return (
        log.head == 0
        and await log.refresh_first_seq() == 1
        and not await log.read_after(0, 1)
        and not await store.snapshots.infos()
    )


async def ensure_empty(target: Store) -> None:
    """Refuse a target that holds anything: a copy never merges two logs."""
    if not await is_empty(target):
        raise Invalid(
            f"{target.name} already holds a log (head {target.log.head}): migrate copies only "
            "into an empty database"
        )


async def migrate(source: Store, target: Store, progress: Progress | None = None) -> Migration:
    await ensure_empty(target)
    first = await source.log.refresh_first_seq()
    head = source.log.head
    infos = {info.seq: info for info in await source.snapshots.infos() if info.seq <= head}
    if first > 1:
        await _start_at_cut(source, target, first - 1, infos.get(first - 1))
    copied = 0
    async for chunk in source.log.scan_hashes(after=first - 1, upto=head):
        events = [event for event, _ in chunk]
        last, stored = chunk[-1]
        async with target.log.locked() as tx:
            await tx.append(events)
            if tx.last_hash != stored:
                raise StoreCorrupt(
                    f"event {last.seq} does not hash to the source's stored chain value: the "
                    f"source is damaged at or before it (run verify on it); {target.name} holds "
                    f"a partial copy up to seq {last.seq - len(events)}",
                    last.seq,
                )
        copied += len(events)
        if progress is not None:
            progress(copied)
    for info in sorted(infos.values(), key=lambda found: found.seq):
        if info.seq != first - 1:
            await target.snapshots.save(info.seq, info.chain, await source.snapshots.body(info.seq))
    report = await verify(target)
    return Migration(first, head, copied, len(infos), report)


async def _start_at_cut(source: Store, target: Store, cut: int, found: SnapshotInfo | None) -> None:
    if found is None:
        raise StoreCorrupt(
            f"{source.name} was compacted through seq {cut} but holds no snapshot there: "
            "run verify on it",
            cut,
        )
    recorded = await source.log.compacted_at()
    cut_at = recorded[1] if recorded is not None and recorded[0] == cut else None
    body = await source.snapshots.body(cut)
    await target.compaction.compact(cut, found.chain, body, cut_at)
