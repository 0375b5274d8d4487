"""The single writer: the only place that decides the order of events.

Commands wait in a bounded queue (policy: callers wait for room, so a flood slows clients down
instead of growing memory). The writer takes everything waiting, up to `max_batch`, and for each
command in order:

1. decides it against the projection plus the effects of earlier commands in the same batch;
2. appends all accepted events in one transaction (group commit);
3. only after the commit, folds them into the projection, publishes them, and answers.

If the commit fails, every command of the batch gets `Unavailable` and the projection does not
move: it never runs ahead of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vm_registry.domain.commands import Command, decide
from vm_registry.domain.errors import RegistryError, Unavailable
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, evolve
from vm_registry.domain.model import Entry
from vm_registry.persistence.store import EventStore, NewEvent, StoreError

log = logging.getLogger("vm_registry.writer")

# Clients learn that the write was refused, why, and that they may retry; the full error
# (which names files and paths) goes only to the server log.
_UNAVAILABLE = "the event log is unavailable ({}); nothing was changed, retry later"

Publisher = Callable[[list["Outcome"]], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A committed command: its event, the entry right after it (None once deregistered), and
    the VM's role (kept after deregistration, so feeds filtered by role still see it go)."""

    event: Event
    entry: Entry | None
    role: str


@dataclass(slots=True)
class _Pending:
    command: Command
    actor: dict[str, Any]
    future: asyncio.Future[Outcome]
    entry: Entry | None = None
    role: str = ""


class Writer:
    def __init__(
        self,
        store: EventStore,
        state: State,
        clock: Callable[[], int],
        publish: Publisher,
        *,
        max_batch: int = 1024,
        queue_size: int = 10_000,
    ) -> None:
        self.store = store
        self.state = state
        self.clock = clock
        self.publish = publish
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._last_at = 0
        self._busy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vm-registry-writer")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Let the writer finish what it has (the HTTP server has stopped taking requests by
        now), then stop it. Whatever is still waiting after `drain_seconds` is refused."""
        if self._task is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + drain_seconds
            while (self._busy or not self._queue.empty()) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("the registry is shutting down"))

    async def submit(self, command: Command, actor: dict[str, Any]) -> Outcome:
        if self._task is None or self._task.done():
            raise Unavailable("the registry writer is not running")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(command, actor, future))
        return await future

    def _now(self) -> int:
        # `at` never goes backwards along the log, even if the wall clock does: time travel
        # and "newest first" both rely on that.
        self._last_at = max(self.clock(), self._last_at)
        return self._last_at

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                # Stopped mid-batch: its callers must hear something rather than wait forever.
                # (The batch may still commit in the database thread; a 503 is no promise.)
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(Unavailable("the registry is shutting down"))
                raise
            except Exception:  # the writer must outlive any single batch
                log.exception("writer batch failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(Unavailable(_UNAVAILABLE.format("internal")))
            finally:
                self._busy = False

    async def _commit(self, batch: list[_Pending]) -> None:
        at = self._now()
        overlay: dict[str, Entry | None] = {}
        accepted: list[_Pending] = []
        new_events: list[NewEvent] = []
        seq = self.store.head
        for pending in batch:
            if pending.future.done():  # the caller went away before we got to it
                continue
            command = pending.command
            vm_id = command.vm_id
            entry = overlay[vm_id] if vm_id in overlay else self.state.entries.get(vm_id)
            try:
                decision = decide(entry, command)
            except RegistryError as error:
                pending.future.set_exception(error)
                continue
            seq += 1
            provisional = Event(seq, decision.type, vm_id, at, pending.actor, decision.data)
            overlay[vm_id] = pending.entry = evolve(entry, provisional)
            pending.role = (pending.entry or entry).role  # type: ignore[union-attr]
            accepted.append(pending)
            new_events.append(NewEvent(decision.type, vm_id, at, pending.actor, decision.data))
        if not new_events:
            return
        try:
            events = await self.store.append(new_events)
        except StoreError as error:
            log.error("append failed, %d writes refused: %s", len(new_events), error)
            for pending in accepted:
                if not pending.future.done():
                    pending.future.set_exception(Unavailable(_UNAVAILABLE.format(error.reason)))
            return
        outcomes = [
            Outcome(event, pending.entry, pending.role)
            for pending, event in zip(accepted, events, strict=True)
        ]
        for event in events:
            apply(self.state, event)
        try:
            self.publish(outcomes)
        except Exception:  # the batch is durable: a feed problem must not fail the writes
            log.exception("publishing committed events failed")
        for pending, outcome in zip(accepted, outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(outcome)
