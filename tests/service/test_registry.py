"""The registry as the API sees it: queries over the projection, staleness with its startup
grace, and the log for auditors, on the real service with a clock the test controls."""

from __future__ import annotations

import pytest

from tests.service.harness import Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Invalid
from vm_registry.persistence.log import EventQuery

DATA = {
    "name": "n",
    "role": "worker",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "me",
}


async def test_entries_are_newest_first_and_filter_by_role_and_status(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    await service.execute(cmd.Register("b", {**DATA, "role": "infra"}))
    await service.execute(cmd.Register("c", {**DATA, "status": "paused"}))
    registry = service.registry
    assert [e.id for e in registry.entries()] == ["c", "b", "a"]
    assert [e.id for e in registry.entries(role="worker")] == ["c", "a"]
    assert [e.id for e in registry.entries(status="running")] == ["b", "a"]
    assert [e.id for e in registry.discover("worker")] == ["a"]
    assert registry.get("b") is not None and registry.get("nope") is None


async def test_staleness_counts_only_after_the_startup_grace(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    service.clock.now += 11_000
    await service.reap()
    registry = service.registry
    entry = registry.get("a")
    assert entry is not None and entry.stale
    assert registry.is_stale(entry)  # the grace (10 s from start) is over
    assert registry.is_stale(entry, now=registry.started_at + 5_000) is False
    assert registry.discover("worker") == []


async def test_the_log_is_read_through_the_registry(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    await service.execute(cmd.Heartbeat("a"))
    registry = service.registry
    assert await registry.first_seq() == 1
    events = await registry.events(EventQuery(after=0, limit=10))
    assert [e.type for e in events] == ["vm.registered", "vm.heartbeat"]
    assert await registry.vm_known("a")
    assert not await registry.vm_known("b")
    assert registry.log_file_problem() is None


async def test_a_revision_beyond_the_log_is_refused_at_once(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    await service.registry.caught_up(1)
    with pytest.raises(Invalid, match="beyond the head of the log"):
        await service.registry.caught_up(99)
