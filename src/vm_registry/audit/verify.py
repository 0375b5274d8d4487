"""`verify`: prove a log is intact, or name the first seq that is not.

It refolds the whole log once, checking on the way that seqs have no gaps, that every event
decodes, that each stored hash equals sha256(previous hash + canonical event bytes), and that
each snapshot equals the refold at its seq.

A chain proves every event up to the head, but not that the head is where it was: a log cut
short after its last good event verifies as well as the whole one. So the report gives the
head's seq and chain hash, for an operator to record elsewhere, and `expect` checks a head
recorded earlier: the log must still reach that seq, with that hash there.

It only reads, through a read-only connection, so it can run against the live file while the
server writes (WAL readers do not block writers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from vm_registry.domain import snapshot
from vm_registry.domain.events import canonical_bytes
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.snapshots import SnapshotInfo
from vm_registry.persistence.store import Store
from vm_registry.service.snapshots import load_verified

Progress = Callable[[int], None]


@dataclass(slots=True)
class Report:
    events: int = 0
    snapshots: int = 0
    head: int = 0
    head_hash: bytes = GENESIS_HASH  # the chain's value at `head`
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, seq: int | None, problem: str) -> Report:
        self.first_bad_seq, self.problem = seq, problem
        return self


@dataclass(frozen=True, slots=True)
class ExpectedHead:
    seq: int
    chain: bytes

    @classmethod
    def parse(cls, text: str) -> ExpectedHead:
        """`SEQ:HASH`, the hash in hex, as `verify` prints them."""
        seq, _, digest = text.partition(":")
        try:
            found = cls(int(seq), bytes.fromhex(digest))
        except ValueError:
            found = None
        if found is None or found.seq < 0 or len(found.chain) != 32:
            raise ValueError(f"expected SEQ:HASH (a seq and 64 hex digits), not {text!r}")
        return found


async def verify(
    store: Store, progress: Progress | None = None, expect: ExpectedHead | None = None
) -> Report:
    report = Report(head=store.log.head)
    first = await store.log.refresh_first_seq()
    snapshots = {info.seq: info for info in await store.snapshots.infos()}
    start = await _starting_point(store, report, first, snapshots)
    if isinstance(start, Report):
        return start
    state, chain = start
    expected = first
    try:
        async for chunk in store.log.scan_hashes(after=first - 1):
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
                    problem = await _snapshot_problem(store, state, info)
                    if problem not in (None, THINNED):
                        return report.fail(event.seq, problem)
                    report.snapshots += problem is None
                expected += 1
            if progress is not None:
                progress(expected - 1)
    except StoreCorrupt as error:
        return report.fail(error.seq, str(error))
    beyond = [seq for seq in snapshots if seq >= expected]
    if beyond:
        return report.fail(min(beyond), f"snapshot at seq {min(beyond)} is beyond the log")
    report.head, report.head_hash = expected - 1, chain
    if expect is not None:
        return await _check_head(store, report, expect, first, snapshots)
    return report


async def _starting_point(
    store: Store, report: Report, first: int, snapshots: dict[int, SnapshotInfo]
) -> tuple[State, bytes] | Report:
    """The state and chain hash the log's first event follows: the genesis, or after a
    compaction the snapshot at the cut, verified. A failed report when there is none to trust."""
    if first <= 1:
        return State(), GENESIS_HASH
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
    report.snapshots += 1
    return state, base.chain


# A snapshot a live server thinned away while verify read the log: nothing left to check.
THINNED = "thinned away meanwhile"


async def _snapshot_problem(store: Store, state: State, info: SnapshotInfo) -> str | None:
    """Why the snapshot at `info.seq` cannot be trusted (it differs from `state`, the log
    refolded up to it, or fails its own checks), `THINNED`, or None when it holds."""
    if snapshot.digest(snapshot.encode(state)) != info.digest:
        return f"snapshot at seq {info.seq} differs from a refold"
    try:
        await load_verified(store, info)
    except StoreCorrupt as error:
        if not await _still_stored(store, info.seq):
            return THINNED
        return str(error)
    return None


async def _check_head(
    store: Store,
    report: Report,
    expect: ExpectedHead,
    first: int,
    snapshots: dict[int, SnapshotInfo],
) -> Report:
    if expect.seq > report.head:
        return report.fail(
            report.head + 1,
            f"the log ends at seq {report.head}, but its head was recorded at seq {expect.seq}: "
            f"seqs {report.head + 1}..{expect.seq} are missing (the log was truncated)",
        )
    if expect.seq == 0:
        chain: bytes | None = GENESIS_HASH
    elif expect.seq == first - 1:
        chain = snapshots[expect.seq].chain
    elif expect.seq < first - 1:
        return report.fail(
            expect.seq,
            f"the recorded head, seq {expect.seq}, was compacted away; check against an "
            "archive, or record a newer head",
        )
    else:
        chain = await store.log.hash_at(expect.seq)
    if chain != expect.chain:
        return report.fail(
            expect.seq,
            f"the chain hash at seq {expect.seq} is not the one recorded: the log was rewritten",
        )
    return report


async def _still_stored(store: Store, seq: int) -> bool:
    return any(info.seq == seq for info in await store.snapshots.infos())
