"""The writer: the only place that decides the order of events, and the only one that folds.

Commands wait in a bounded queue (policy: callers wait for room, so a flood slows clients down
instead of growing memory). It is a plain deque with an event for room rather than an
`asyncio.Queue`, whose `put` and `get_nowait` (a coroutine, task accounting, waking getters
and putters) cost more per heartbeat than appending to a deque and taking the lot. The writer
takes everything waiting, up to `max_batch`, and:

1. under the log's global lock (`log.locked()`), folds what other processes committed since
   its own head, then decides each command against the projection plus the effects of earlier
   commands in the same batch (the overlay), building and numbering each event and its entry
   once, on from the log's true head;
2. appends all accepted events in that one transaction (group commit);
3. only after the commit, installs the overlay's entries into the projection (the very objects
   the callers get back), publishes them, and answers.

While it has heard of nobody else's commits, it decides against its own head without reading
the log's first (`locked(assume_head=...)`): the log checks that head as it stores the batch,
so a group commit is one step on the database instead of two (one trip to SQLite's thread).
If another process did append, nothing was written (`SeqMismatch`), and the batch is decided
again the first way. So nothing is answered, refusals included, before the batch's
transaction has committed.

Publishing hands each committed batch to the subscribers, then read-your-writes waiters learn
the new revision, and only then are the callers answered; an observer (the metrics) watches
without taking part (`service/publishing.py`).

If the commit fails, every command of the batch gets `Unavailable` and the projection does not
move: it never runs ahead of the log.

Events other processes committed (replicas on one log) reach the projection through this task
too, in seq order: `follow(head)` tells the writer the log has moved, and it folds and
publishes what it has not seen yet before deciding anything else. See `docs/scale-out.md`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vm_registry.domain.commands import Command, decide
from vm_registry.domain.errors import RegistryError, Unavailable
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, evolve, install
from vm_registry.domain.model import Entry
from vm_registry.domain.outcome import Outcome
from vm_registry.persistence.errors import SeqMismatch, StoreError
from vm_registry.persistence.log import EventLog
from vm_registry.service.publishing import Subscriber, WriterObserver
from vm_registry.service.revisions import RevisionGate

log = logging.getLogger("vm_registry.writer")

# Clients learn that the write was refused, why, and that they may retry; the full error
# (which names files and paths) goes only to the server log.
_UNAVAILABLE = "the event log is unavailable ({}); nothing was changed, retry later"

# Events read per step when folding what other processes committed.
FOLLOW_CHUNK = 1000

__all__ = ["Outcome", "Subscriber", "Writer", "WriterObserver"]


@dataclass(slots=True)
class _Pending:
    command: Command
    actor: dict[str, Any]
    future: asyncio.Future[Outcome]
    tag: object = None  # what the observer said when the command was submitted


# What deciding a batch gave: the accepted commands, their outcomes, and the refused ones.
_Decided = tuple[list[_Pending], list[Outcome], list[tuple[_Pending, RegistryError]]]


class Writer:
    def __init__(
        self,
        store: EventLog,
        state: State,
        clock: Callable[[], int],
        subscribers: Sequence[Subscriber] = (),
        *,
        observer: WriterObserver | None = None,
        max_batch: int = 1024,
        queue_size: int = 10_000,
    ) -> None:
        self.store = store
        self.state = state
        self.clock = clock
        self.subscribers = list(subscribers)
        self.observer = observer
        self.max_batch = max_batch
        self.queue_size = queue_size
        # Everyone who waits for the projection to reach a revision (read-your-writes).
        self.folded = RevisionGate(state.revision)
        self.log_head = state.revision  # the newest head of the log this process has heard of
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()  # a command is waiting, or the log moved
        self._room = asyncio.Event()  # the writer took a batch: a full queue has room again
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_at = 0
        self._busy = False
        # Why the last step on the log failed, until one succeeds again (for /health).
        self.log_error: str | None = None

    def start(self) -> None:
        # Kept: each get_running_loop() is a getpid system call (9 % of P2's samples).
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="vm-registry-writer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queue_depth(self) -> int:
        """Commands waiting for the writer."""
        return len(self._queue)

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Let the writer finish what it has (the HTTP server has stopped taking requests by
        now), then stop it. Whatever is still waiting after `drain_seconds` is refused."""
        if self._task is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + drain_seconds
            while (self._busy or self._queue) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("the registry is shutting down"))
        self._room.set()  # callers still waiting for room hear that the writer stopped

    async def submit(self, command: Command, actor: dict[str, Any]) -> Outcome:
        """Decide, commit and fold `command`; the outcome once it is durable."""
        future = self.submit_soon(command, actor)
        while future is None:  # the queue is full: wait until the writer takes a batch
            if not self.running:
                error = Unavailable("the registry writer is not running")
                if self.observer is not None:
                    self.observer.command_refused(error)
                raise error
            self._room.clear()
            await self._room.wait()
            future = self.submit_soon(command, actor)
        return await future

    def submit_soon(
        self, command: Command, actor: dict[str, Any]
    ) -> asyncio.Future[Outcome] | None:
        """`submit` for a caller that answers from a callback, not a coroutine (the HTTP
        protocol's heartbeats, `api/wire.py`): no task and no chain of awaits per command, which
        cost a heartbeat more than its decision does. The future of the outcome, or None when
        the queue has no room or the writer stopped (`submit` then waits, or refuses)."""
        queue, loop = self._queue, self._loop
        if loop is None or len(queue) >= self.queue_size or not self.running:
            return None
        observer = self.observer
        future: asyncio.Future[Outcome] = loop.create_future()
        tag = None
        if observer is not None:
            tag = observer.command_submitted(command)
            future.add_done_callback(self._count_refusal)  # runs before the caller resumes
        queue.append(_Pending(command, actor, future, tag))
        self._wake.set()
        return future

    def _count_refusal(self, future: asyncio.Future[Outcome]) -> None:
        if future.cancelled() or self.observer is None:
            return
        error = future.exception()
        if isinstance(error, RegistryError):
            self.observer.command_refused(error)

    def follow(self, head: int) -> None:
        """The log's head is at least `head` (another process committed): fold up to it."""
        if head > self.log_head:
            self.log_head = head
            self._wake.set()

    def _now(self) -> int:
        # `at` never goes backwards along the log, even if the wall clock does: time travel
        # and "newest first" both rely on that.
        self._last_at = max(self.clock(), self._last_at)
        return self._last_at

    async def _run(self) -> None:
        await self._seed_clock()
        while True:
            if not self._queue and self.log_head <= self.state.revision:
                await self._wake.wait()
            self._wake.clear()
            batch = self._take()
            self._busy = True
            try:
                if self.log_head > self.state.revision:
                    await self._catch_up()
                if batch:
                    await self._observed_commit(batch)
            except asyncio.CancelledError:
                # Stopped mid-batch: its callers must hear something rather than wait forever.
                # (The batch may still commit in the database thread; a 503 is no promise.)
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(Unavailable("the registry is shutting down"))
                raise
            except Exception as error:  # the writer must outlive any single batch
                if isinstance(error, StoreError):
                    self.log_error = error.reason
                    log.error("writer step failed: %s", error)
                else:
                    log.exception("writer batch failed")
                reason = error.reason if isinstance(error, StoreError) else "internal"
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(Unavailable(_UNAVAILABLE.format(reason)))
                if isinstance(error, StoreError):
                    await asyncio.sleep(0.05)  # a failing log is not retried in a hot loop
            finally:
                self._busy = False

    def _take(self) -> list[_Pending]:
        """The commands waiting, up to `max_batch`, oldest first."""
        queue = self._queue
        if len(queue) <= self.max_batch:
            batch = list(queue)
            queue.clear()
        else:
            batch = [queue.popleft() for _ in range(self.max_batch)]
        self._room.set()
        return batch

    async def _seed_clock(self) -> None:
        """Start `at` from the newest event's: after a restart with the wall clock behind
        (or on a replica whose clock is behind another's), times still never go backwards."""
        if self.state.revision == 0:
            return
        try:
            newest = await self.store.read_after(self.state.revision - 1, 1)
        except StoreError as error:
            log.warning("could not read the newest event's time: %s", error)
            return
        if newest:
            self._last_at = max(self._last_at, newest[0].at)

    # -- folding what others committed -------------------------------------------------------

    async def _catch_up(self) -> None:
        """Fold and publish, in seq order, the events committed after our projection."""
        while self.state.revision < self.log_head:
            events = await self.store.read_after(self.state.revision, FOLLOW_CHUNK)
            if not events:
                return  # the head we heard of is not visible to our reader yet
            self._fold(events)
            self.log_error = None

    def _fold(self, events: list[Event]) -> None:
        state = self.state
        if events[0].seq != state.revision + 1:
            raise StoreError(
                f"the log jumps from seq {state.revision} to {events[0].seq}",
                "the log has a gap",
            )
        outcomes = []
        entries = state.entries
        for event in events:
            before = entries.get(event.vm_id)
            apply(state, event)
            after = entries.get(event.vm_id)
            role = after.role if after is not None else before.role if before is not None else ""
            outcomes.append(Outcome(event, after, role, before))
        self._last_at = max(self._last_at, events[-1].at)
        self.log_head = max(self.log_head, state.revision)
        self._published(outcomes)

    # -- deciding ----------------------------------------------------------------------------

    async def _observed_commit(self, batch: list[_Pending]) -> None:
        observer = self.observer
        if observer is None:
            await self._commit(batch)
            return
        begun = observer.batch_begins([pending.tag for pending in batch])
        started = time.perf_counter()
        committed: list[Outcome] = []
        try:
            committed = await self._commit(batch)
        finally:
            observer.batch_ends(begun, len(batch), time.perf_counter() - started, committed)

    async def _commit(self, batch: list[_Pending]) -> list[Outcome]:
        """Decide, append and fold `batch`; what it committed."""
        try:
            try:
                # As far as this process knows, nobody else appended since its projection:
                # decide against that head, which the log checks as it stores the batch.
                decided = await self._append(batch, assume_head=self.log_head)
            except SeqMismatch:  # they did: nothing was written, decide again under the lock
                decided = await self._append(batch, assume_head=None)
        except StoreError as error:
            # The lock, the catch-up read or the commit failed: nothing of the batch was
            # written, so every caller still waiting (decided or not) hears 503.
            log.error("append failed, %d writes refused: %s", len(batch), error)
            self.log_error = error.reason
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(Unavailable(_UNAVAILABLE.format(error.reason)))
            return []
        self.log_error = None
        accepted, outcomes, refused = decided
        # Refusals too are answered only now: one decided against an assumed head that had
        # moved on was decided again.
        for pending, refusal in refused:
            if not pending.future.done():
                pending.future.set_exception(refusal)
        if not outcomes:
            return outcomes
        # The entries worked out while deciding go into the projection as they are: the
        # caller's answer, the feed and the projection share one object per entry version.
        state = self.state
        for outcome in outcomes:
            install(state, outcome.event.seq, outcome.event.vm_id, outcome.entry)
        self.log_head = max(self.log_head, state.revision)
        self._published(outcomes)
        for pending, outcome in zip(accepted, outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(outcome)
        return outcomes

    async def _append(self, batch: list[_Pending], assume_head: int | None) -> _Decided:
        """Decide `batch` under the log's lock and append what was accepted (`SeqMismatch`:
        the head assumed had moved on, and nothing was written)."""
        state = self.state
        if assume_head is not None and assume_head != state.revision:
            assume_head = None  # the projection has not caught up with what we heard of
        async with self.store.locked(assume_head) as tx:
            newer = await tx.newer(after=state.revision)
            if newer:  # others committed since our head: decide against the current state
                self._fold(newer)
            decided = self._decide(batch, tx.head)
            outcomes = decided[1]
            if outcomes:
                await tx.append([outcome.event for outcome in outcomes])
        return decided

    def _decide(self, batch: list[_Pending], head: int) -> _Decided:
        """Decide each command of `batch` in order: the accepted ones and their outcomes,
        numbered on from `head`, and the refused ones with their reasons. Nothing changes
        until the batch is committed, so a batch decided against a stale head is decided
        again."""
        accepted: list[_Pending] = []
        outcomes: list[Outcome] = []
        refused: list[tuple[_Pending, RegistryError]] = []
        at = self._now()
        overlay: dict[str, Entry | None] = {}
        seq = head
        entries, shared = self.state.entries, self.state.shared
        registered = len(entries)  # with the batch's earlier effects: for the VM cap
        for pending in batch:
            if pending.future.done():  # the caller went away before we got to it
                continue
            command = pending.command
            vm_id = command.vm_id
            entry = overlay[vm_id] if vm_id in overlay else entries.get(vm_id)
            try:
                decision = decide(entry, command, registered)
            except RegistryError as error:
                refused.append((pending, error))
                continue
            # Each event is built, numbered and evolved exactly once, here.
            seq += 1
            event = Event(seq, decision.type, vm_id, at, pending.actor, decision.data)
            overlay[vm_id] = after = evolve(entry, event, shared)
            registered += (after is not None) - (entry is not None)
            owner = after if after is not None else entry
            assert owner is not None  # decide() accepts only commands on an entry, or a Register
            outcomes.append(Outcome(event, after, owner.role, entry))
            accepted.append(pending)
        return accepted, outcomes, refused

    def _published(self, outcomes: list[Outcome]) -> None:
        for subscriber in self.subscribers:
            try:
                subscriber(outcomes)
            except Exception:  # the events are durable: a subscriber must not fail the writes
                log.exception("publishing committed events failed")
        self.folded.advance(self.state.revision)
