"""Blocking queries: hold a read until what it shows changes.

`GET /registry/vms`, `/registry/vms/{id}` and `/registry/discover/{role}` accept
`?index=N&wait=30s` (docs/health.md). The request is answered at once if its scope changed
after N; otherwise it waits on a future of its own until a committed change alters its result,
or until the wait ends. Nothing polls and nothing runs in a thread: the writer's publish step
hands each committed batch to `observe`, which resolves the futures of the held queries the
batch concerns (looked up by VM and by role, never by scanning them all).

What counts as a change is what the answer says about a VM, not its liveness: a heartbeat
moves `lastSeen` and `revision` but wakes nobody, unless it ends a stale episode. Otherwise every
held list would return at every heartbeat of a busy fleet, and a blocking query would be
polling again by another name.

Each scope has an index, the seq of the last change in it: one per VM, one per role, one for
all. "Answer at once" compares N with that index, so it may answer for a change the query's
filter hides (a paused worker's metadata, for `discover/worker`); a held query is woken only by a
change that alters its result. Indexes start at the revision the server started with, so after a
restart a query with an older N is answered at once, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from vm_registry.domain import events as ev
from vm_registry.domain.errors import Unavailable
from vm_registry.domain.fold import State
from vm_registry.domain.model import ROLES, Entry
from vm_registry.domain.outcome import Outcome
from vm_registry.domain.selectors import Selector

# How many deregistered ids keep an index of their own before they are forgotten together
# (their index then becomes the revision at that moment: at worst one early answer).
FORGET_AFTER = 10_000
# How many ids of a held list's answer are kept to tell which changes alter it. Each held
# query kept them all: 1,000 held lists of a 100,000-VM fleet took about 4 GB. Past this, the
# list is woken by any change in its role (or in the fleet) that is not a heartbeat, and its
# client asks again: more answers, never a missed one.
MAX_SHOWN = 256


def shown(ids: Iterable[str]) -> frozenset[str] | None:
    """The ids of a list's answer, for `Scope.shown`; None when there are more than
    `MAX_SHOWN`."""
    kept = frozenset(islice(ids, MAX_SHOWN + 1))
    return None if len(kept) > MAX_SHOWN else kept


@dataclass(frozen=True, slots=True)
class Scope:
    """What a held query shows: one VM, or a list (by role and status, or discover's view)."""

    vm_id: str | None = None
    role: str | None = None
    status: str | None = None
    discover: bool = False  # running, not stale
    healthy: bool = False  # and no critical service
    # The ids of the result now (`shown()`); None: too many to keep, any change may alter it.
    shown: frozenset[str] | None = field(default_factory=frozenset)
    selector: Selector | None = None  # over the metadata

    def admits(self, entry: Entry | None) -> bool:
        """Whether the entry, as it is after a change, belongs in a list with this scope."""
        if entry is None:
            return False
        if self.selector is not None and not self.selector.matches(entry.metadata):
            return False
        if self.discover or self.status == "running":
            if entry.status != "running" or entry.stale:
                return False
            return not (self.healthy and entry.health and "critical" in entry.health.values())
        return self.status is None or entry.status == self.status

    def altered_by(self, outcome: Outcome) -> bool:
        if self.vm_id is not None:
            return outcome.event.vm_id == self.vm_id
        if self.role is not None and outcome.role != self.role:
            return False
        if self.shown is None:
            return True
        return outcome.event.vm_id in self.shown or self.admits(outcome.entry)


@dataclass(eq=False, slots=True)
class _Held:
    scope: Scope
    future: asyncio.Future[None]


class BlockingQueries:
    def __init__(self, state: State, max_held: int = 1000) -> None:
        self.state = state
        self.max_held = max_held
        self._floor = state.revision
        self._by_vm: dict[str, int] = {}
        self._by_role = dict.fromkeys(ROLES, state.revision)
        self._any = state.revision
        self._stale = {vm_id for vm_id, entry in state.entries.items() if entry.stale}
        self._held_vm: dict[str, set[_Held]] = {}
        self._held_role: dict[str | None, set[_Held]] = {}
        self.held = 0
        self.closing = False

    def index(self, scope: Scope) -> int:
        if scope.vm_id is not None:
            return self._by_vm.get(scope.vm_id, self._floor)
        if scope.role is not None:
            return self._by_role[scope.role]
        return self._any

    def observe(self, outcomes: Iterable[Outcome]) -> None:
        stale, heartbeat = self._stale, ev.HEARTBEAT  # looked up once: every heartbeat passes
        for outcome in outcomes:
            event = outcome.event
            vm_id = event.vm_id
            if event.type == heartbeat:
                if vm_id not in stale:
                    continue  # liveness only: nobody's answer changes in substance
                stale.discard(vm_id)
            elif event.type == ev.STALE:
                self._stale.add(vm_id)
            elif event.type in (ev.UPDATED, ev.DEREGISTERED):
                self._stale.discard(vm_id)
            self._by_vm[vm_id] = self._by_role[outcome.role] = self._any = event.seq
            self._wake(self._held_vm.get(vm_id, ()), outcome)
            self._wake(self._held_role.get(outcome.role, ()), outcome)
            self._wake(self._held_role.get(None, ()), outcome)
        if len(self._by_vm) > len(self.state.entries) + FORGET_AFTER:
            live = self.state.entries
            self._by_vm = {k: v for k, v in self._by_vm.items() if k in live}
            self._floor = self._any

    @staticmethod
    def _wake(held: Iterable[_Held], outcome: Outcome) -> None:
        for item in held:
            if not item.future.done() and item.scope.altered_by(outcome):
                item.future.set_result(None)

    def must_wait(self, scope: Scope, index: int) -> bool:
        """False when the query should be answered at once: its scope changed after `index`,
        `index` is ahead of the log (the client knew another log: a fresh answer is what it
        needs), or the server is shutting down."""
        return not self.closing and self.index(scope) <= index <= self.state.revision

    async def hold(
        self,
        scope: Scope,
        index: int,
        seconds: float,
        hung_up: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        """Return once the result of `scope` changes after `index`, after `seconds`, or when
        `hung_up()` completes (the client went away). Refused with 503 past `max_held`."""
        if not self.must_wait(scope, index):
            return
        if self.held >= self.max_held:
            raise Unavailable(
                f"the registry is holding its limit of {self.max_held} blocking queries; "
                "retry, or watch the change feed instead"
            )
        loop = asyncio.get_running_loop()
        held = _Held(scope, loop.create_future())
        bucket = (
            self._held_vm.setdefault(scope.vm_id, set())
            if scope.vm_id is not None
            else self._held_role.setdefault(scope.role, set())
        )
        bucket.add(held)
        self.held += 1
        timer = loop.call_later(seconds, _settle, held.future)
        hangup = asyncio.ensure_future(hung_up())
        hangup.add_done_callback(lambda _: _settle(held.future))
        try:
            await held.future
        finally:
            timer.cancel()
            hangup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hangup
            self.held -= 1
            bucket.discard(held)
            if not bucket:
                self._drop_bucket(scope)

    def _drop_bucket(self, scope: Scope) -> None:
        if scope.vm_id is not None:
            if not self._held_vm.get(scope.vm_id):
                self._held_vm.pop(scope.vm_id, None)
        elif not self._held_role.get(scope.role):
            self._held_role.pop(scope.role, None)

    def release_all(self) -> None:
        """On shutdown: answer every held query now, and hold no more."""
        self.closing = True
        for bucket in (*self._held_vm.values(), *self._held_role.values()):
            for held in bucket:
                _settle(held.future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
