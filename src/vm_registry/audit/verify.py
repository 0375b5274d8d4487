"""`verify`: prove a log is intact, or name the first seq that is not.

It refolds the whole log once, checking on the way that seqs have no gaps, that every event
decodes, that each stored hash equals sha256(previous hash + canonical event bytes), and that
each snapshot equals the refold at its seq. It only reads, through a read-only connection, so
it can run against the live file while the server writes (WAL readers do not block writers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from vm_registry.domain import snapshot
from vm_registry.domain.events import canonical_bytes
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.store import GENESIS_HASH, EventStore, StoreCorrupt
from vm_registry.service.snapshots import load_verified

Progress = Callable[[int], None]


@dataclass(slots=True)
class Report:
    events: int = 0
    snapshots: int = 0
    head: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, seq: int | None, problem: str) -> Report:
        self.first_bad_seq, self.problem = seq, problem
        return self


async def verify(store: EventStore, progress: Progress | None = None) -> Report:
    report = Report(head=store.head)
    first = await store.refresh_first_seq()
    snapshots = {info.seq: info for info in await store.snapshots()}
    state, chain = State(), GENESIS_HASH
    if first > 1:
        base = snapshots.get(first - 1)
        if base is None:
            # Either the snapshot left by a compaction is gone, or events were deleted: the
            # newest snapshot below (an earlier cut) tells where the unexplained hole starts.
            below = [seq for seq in snapshots if seq < first - 1]
            hole = max(below) + 1 if below else 1
            return report.fail(
                hole,
                f"seqs {hole}..{first - 1} are missing and no snapshot at seq {first - 1} "
                "stands in for them",
            )
        try:
            state = await load_verified(store, base)
        except StoreCorrupt as error:
            return report.fail(first - 1, str(error))
        chain = base.chain
        report.snapshots += 1
    expected = first
    try:
        async for chunk in store.scan_hashes(after=first - 1):
            for event, stored in chunk:
                if event.seq != expected:
                    return report.fail(expected, f"seq {expected} is missing (next is {event.seq})")
                chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
                if chain != stored:
                    return report.fail(event.seq, f"event {event.seq} breaks the hash chain")
                apply(state, event)
                report.events += 1
                info = snapshots.get(event.seq)
                if info is not None:
                    if snapshot.digest(snapshot.encode(state)) != info.digest:
                        return report.fail(
                            event.seq, f"snapshot at seq {event.seq} differs from a refold"
                        )
                    try:
                        await load_verified(store, info)
                    except StoreCorrupt as error:
                        if not await _still_stored(store, info.seq):
                            # A live server thinned it away while we read: nothing to check.
                            expected += 1
                            continue
                        return report.fail(event.seq, str(error))
                    report.snapshots += 1
                expected += 1
            if progress is not None:
                progress(expected - 1)
    except StoreCorrupt as error:
        return report.fail(error.seq, str(error))
    beyond = [seq for seq in snapshots if seq >= expected]
    if beyond:
        return report.fail(min(beyond), f"snapshot at seq {min(beyond)} is beyond the log")
    report.head = expected - 1
    return report


async def _still_stored(store: EventStore, seq: int) -> bool:
    return any(info.seq == seq for info in await store.snapshots())
