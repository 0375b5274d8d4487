"""The state as of any seq: the basis of time travel and of feed catch-up from the log.

The answer is the newest valid snapshot at or before the seq plus a fold of the events after
it, so a request costs at most one snapshot interval of events, never a refold of the whole
log. The last base state used is kept, because audits tend to ask about nearby points in a row.
"""

from __future__ import annotations

import logging

from vm_registry.domain.errors import Gone, Invalid
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.store import Store
from vm_registry.service.snapshots import load_verified

log = logging.getLogger("vm_registry.snapshots")

# A cached base this close below the point asked for is folded forward rather than looking for
# a newer snapshot.
NEARBY = 1000


class TimeMachine:
    def __init__(self, store: Store, live: State) -> None:
        self.store = store
        self.live = live
        self._cached: State | None = None
        # Snapshots found corrupt, by (seq, digest, chain): judged once, warned about once. A
        # snapshot written again at that seq has another digest, and is judged afresh.
        self._corrupt: set[tuple[int, bytes, bytes]] = set()

    async def check(self, seq: int) -> None:
        if seq > self.live.revision:
            raise Invalid(f"seq {seq} is beyond the head of the log ({self.live.revision})")
        first = await self.store.log.refresh_first_seq()
        if seq < first - 1:
            raise Gone(
                f"history before seq {first} was compacted; "
                f"seq {seq} is no longer available (the oldest point is {first - 1})"
            )

    async def state_at(self, seq: int) -> State:
        """The state after every event up to and including `seq`. Treat it as read-only: it
        may be the live projection itself."""
        await self.check(seq)
        if seq == self.live.revision:
            return self.live
        # Nothing before the compaction point can be folded any more: a base older than it
        # (such as one cached before another process compacted the log) would silently skip
        # the dropped events.
        floor = self.store.log.first_seq - 1
        base = self._cached
        if base is not None and not floor <= base.revision <= seq:
            base = None
        if base is None or seq - base.revision > NEARBY:
            snap = await self._newest_valid(upto=seq)
            lowest = floor if base is None else base.revision + 1
            if snap is not None and snap.revision >= lowest:
                base = snap
        if base is None:
            if floor > 0:
                raise Gone(
                    f"history before seq {floor + 1} was compacted and no valid snapshot "
                    f"covers seq {seq}"
                )
            base = State()
        self._cached = base
        state = base.copy()
        async for chunk in self.store.log.scan(after=state.revision, upto=seq):
            for event in chunk:
                apply(state, event)
        return state

    async def _newest_valid(self, upto: int) -> State | None:
        for info in await self.store.snapshots.infos():
            verdict = (info.seq, info.digest, info.chain)
            if info.seq > upto or verdict in self._corrupt:
                continue
            try:
                return await load_verified(self.store, info)
            except StoreCorrupt as error:
                self._corrupt.add(verdict)
                log.warning("ignoring snapshot (not checked again): %s", error)
        return None

    async def seq_as_of(self, at_ms: int, now_ms: int) -> int:
        if at_ms > now_ms:
            raise Invalid("asOf is in the future")
        seq = await self.store.log.seq_at_time(at_ms)
        first = await self.store.log.refresh_first_seq()
        if seq < first and first > 1:
            # Before the first event kept: the snapshot at the cut answers, if the time is not
            # before the cut's own event. Backends that do not record that time answer 410.
            cut = await self.store.log.compacted_at()
            if cut is not None and cut[0] == first - 1 and at_ms >= cut[1]:
                return first - 1
            raise Gone(
                f"history before seq {first} was compacted; that time is no longer available"
            )
        return seq
