"""Which committed changes wake which held queries (service/blocking_queries.py), on a real
fold."""

from __future__ import annotations

import asyncio

import pytest

from tests.domain.strategies import T0
from vm_registry.domain import events as ev
from vm_registry.domain.errors import Unavailable
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply
from vm_registry.domain.outcome import Outcome
from vm_registry.service.blocking_queries import MAX_SHOWN, BlockingQueries, Scope, shown


class Log:
    def __init__(self) -> None:
        self.state = State()
        self.queries = BlockingQueries(self.state, max_held=2)

    def append(self, kind: str, vm_id: str, **data: object) -> int:
        seq = self.state.revision + 1
        before = self.state.entries.get(vm_id)
        event = Event(seq, kind, vm_id, T0 + seq, {}, dict(data))
        apply(self.state, event)
        after = self.state.entries.get(vm_id)
        role = (after or before).role  # type: ignore[union-attr]
        self.queries.observe([Outcome(event, after, role, before)])
        return seq

    def register(self, vm_id: str, role: str = "worker", status: str = "running") -> int:
        return self.append(
            ev.REGISTERED, vm_id, name=vm_id, role=role, status=status, address="a",
            registeredBy="t",
        )  # fmt: skip


async def never() -> None:
    await asyncio.Event().wait()


async def held(log: Log, scope: Scope, index: int) -> asyncio.Task[None]:
    task = asyncio.create_task(log.queries.hold(scope, index, 30, never))
    await asyncio.sleep(0)
    return task


async def test_heartbeats_wake_nobody_unless_they_end_a_stale_episode() -> None:
    log = Log()
    index = log.register("vm-1")
    task = await held(log, Scope(vm_id="vm-1"), index)
    log.append(ev.HEARTBEAT, "vm-1")
    await asyncio.sleep(0)
    assert not task.done()
    assert log.queries.index(Scope(vm_id="vm-1")) == index
    log.append(ev.STALE, "vm-1")
    await asyncio.wait_for(task, 5)
    stale_index = log.state.revision
    task = await held(log, Scope(vm_id="vm-1"), stale_index)
    log.append(ev.HEARTBEAT, "vm-1")  # back from stale: discover's answer changes
    await asyncio.wait_for(task, 5)


async def test_discover_wakes_for_its_members_and_newcomers_only() -> None:
    log = Log()
    log.register("paused", status="paused")
    index = log.register("member")
    scope = Scope(role="worker", discover=True, shown=frozenset({"member"}))
    task = await held(log, scope, index)
    log.append(ev.UPDATED, "paused", metadata={"x": 1})  # not in the answer, and stays out
    log.register("infra-1", role="infra")
    await asyncio.sleep(0)
    assert not task.done()
    log.append(ev.UPDATED, "paused", status="running")  # enters the answer
    await asyncio.wait_for(task, 5)


async def test_healthy_discover_wakes_when_a_member_turns_critical() -> None:
    log = Log()
    index = log.register("vm-1")
    scope = Scope(role="worker", discover=True, healthy=True, shown=frozenset({"vm-1"}))
    task = await held(log, scope, index)
    log.append(ev.HEALTH, "vm-1", service="rpc", status="critical", detail="HTTP 500")
    await asyncio.wait_for(task, 5)


async def test_the_bound_refuses_and_release_all_answers_everyone() -> None:
    log = Log()
    index = log.register("vm-1")
    first = await held(log, Scope(), index)
    second = await held(log, Scope(vm_id="vm-2"), index)
    with pytest.raises(Unavailable, match="limit of 2 blocking queries"):
        await log.queries.hold(Scope(), index, 30, never)
    log.queries.release_all()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert log.queries.held == 0
    assert not log.queries.must_wait(Scope(), index)  # shutting down: nothing is held


async def test_answers_at_once_when_the_scope_moved_or_the_index_is_ahead() -> None:
    log = Log()
    log.register("vm-1")
    index = log.register("vm-2", role="infra")
    assert not log.queries.must_wait(Scope(vm_id="vm-2"), index - 1)
    assert log.queries.must_wait(Scope(vm_id="vm-1"), index - 1)  # vm-1 did not change since
    assert not log.queries.must_wait(Scope(role="infra"), index - 1)
    assert log.queries.must_wait(Scope(role="worker"), index - 1)
    assert not log.queries.must_wait(Scope(), index + 1)  # ahead of the log


async def test_a_held_list_keeps_at_most_max_shown_ids_and_then_wakes_on_any_change() -> None:
    assert shown(f"vm-{n}" for n in range(MAX_SHOWN)) == {f"vm-{n}" for n in range(MAX_SHOWN)}
    assert shown(f"vm-{n}" for n in range(MAX_SHOWN + 1)) is None
    log = Log()
    log.register("paused", status="paused")
    index = log.register("member")
    scope = Scope(role="worker", discover=True, shown=None)  # too many ids to keep
    task = await held(log, scope, index)
    log.register("infra-1", role="infra")  # another role: still not its business
    await asyncio.sleep(0)
    assert not task.done()
    log.append(ev.UPDATED, "paused", metadata={"x": 1})  # outside the answer, but it cannot tell
    await asyncio.wait_for(task, 5)
