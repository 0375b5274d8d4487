"""The checker's decisions on a clock the test controls: the real store, writer and prober,
real services on a loopback port, and rounds run by hand instead of on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.domain.strategies import T0
from tests.health.services import Services, running_services
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain import events as ev
from vm_registry.service.allow_list import AllowList
from vm_registry.service.health_checks import CheckPolicy, HealthChecker
from vm_registry.service.probe import Prober

INTERVAL = 1.0  # seconds: the rate limit's window is ten of them


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    running = await Service(tmp_path / "registry.db", FakeClock(T0), stale_after=3600).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def checker(service: Service) -> AsyncIterator[HealthChecker]:
    prober = Prober(AllowList.parse(["127.0.0.1"]), timeout=0.5, concurrency=4)
    found = HealthChecker(service.registry, prober, CheckPolicy(interval=INTERVAL, failures=2))
    try:
        yield found
    finally:
        await prober.close()


async def register(service: Service, services: Services, *paths: str) -> None:
    data: dict[str, Any] = {
        "name": "vm",
        "role": "worker",
        "address": "127.0.0.1",
        "registeredBy": "test",
        "services": [
            {"name": f"svc{i}", "port": services.port, "healthPath": path}
            for i, path in enumerate(paths)
        ],
    }
    await service.execute(cmd.Register("vm-1", data))


def recorded(service: Service) -> list[tuple[str, str, str]]:
    return [
        (o.event.data["service"], o.event.data["status"], o.event.data["detail"])
        for o in service.published
        if o.event.type == ev.HEALTH
    ]


async def test_one_failure_is_not_an_outage_two_are(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    services.flap_healthy = True
    await register(service, services, "/flap")
    await checker.round()
    services.flap_healthy = False
    await checker.round()
    assert service.registry.get("vm-1").health == {"svc0": "passing"}  # type: ignore[union-attr]
    services.flap_healthy = True
    await checker.round()  # the count starts again
    services.flap_healthy = False
    await checker.round()
    assert recorded(service) == [("svc0", "passing", "HTTP 200")]
    await checker.round()
    assert recorded(service)[-1] == ("svc0", "critical", "HTTP 503")
    assert checker.probes["passing"] == 2
    assert checker.probes["failing"] == 3


async def test_a_flapping_service_writes_four_changes_per_ten_intervals_then_its_latest(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    services.flap_healthy = True
    await register(service, services, "/flap")
    for _ in range(6):  # passing, critical, passing, critical, passing, critical, ...
        await checker.round()
        services.flap_healthy = False
        await checker.round()
        await checker.round()
        services.flap_healthy = True
    statuses = [status for _, status, _ in recorded(service)]
    # The first record, then four changes: the first record is not a change.
    assert statuses == ["passing", "critical", "passing", "critical", "passing"]
    assert checker.suppressed > 0
    # The window moves on: the current status (critical) is written, saying what happened.
    service.clock.now += int(10 * INTERVAL * 1000)
    services.flap_healthy = False
    await checker.round()
    await checker.round()
    assert recorded(service)[-1] == (
        "svc0",
        "critical",
        "HTTP 503; earlier changes were held back by the rate limit",
    )
    assert service.registry.get("vm-1").health == {"svc0": "critical"}  # type: ignore[union-attr]


async def test_a_vm_that_is_not_running_or_is_stale_is_not_probed(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    await register(service, services, "/ok-idle")
    await service.execute(cmd.Update("vm-1", {"status": "paused"}))
    assert checker.due() == []
    await service.execute(cmd.Update("vm-1", {"status": "running"}))
    assert [t.path for t in checker.due()] == ["/ok-idle"]
    entry = service.registry.get("vm-1")
    assert entry is not None
    service.clock.now += 3_600_001  # past the stale window, and past the startup grace
    await service.execute(cmd.MarkStale("vm-1", entry.revision))
    assert checker.due() == []


async def test_a_probe_of_a_service_that_changed_meanwhile_is_not_recorded(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    await register(service, services, "/fail")
    [target] = checker.due()
    moved = [{"name": "svc0", "port": services.port, "healthPath": "/ok"}]
    await service.execute(cmd.Update("vm-1", {"services": moved}))
    prober = checker.prober
    assert isinstance(prober, Prober)
    for _ in range(2):  # two failures of the old path, judged after the change
        decided = checker._judge(target, await prober.probe(target))
        if decided is not None:
            await checker._record(*decided)
    assert recorded(service) == []
    await checker.round()
    assert recorded(service) == [("svc0", "passing", "HTTP 200")]


async def test_a_replica_that_is_not_the_leader_probes_nothing(
    service: Service, services: Services
) -> None:
    await register(service, services, "/ok-follower")
    asked = 0

    def is_leader() -> bool:
        nonlocal asked
        asked += 1
        return False

    prober = Prober(AllowList.parse(["127.0.0.1"]), timeout=0.5, concurrency=4)
    follower = HealthChecker(
        service.registry, prober, CheckPolicy(interval=0.01, failures=2), is_leader
    )
    follower.start()
    try:
        while asked < 5:  # five rounds came and went
            await asyncio.sleep(0.01)
    finally:
        await follower.stop()
    assert services.hits["/ok-follower"] == 0
    assert sum(follower.probes.values()) == 0
    assert recorded(service) == []


async def test_a_failing_service_never_waits_behind_first_passing_records(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    await register(service, services, *[f"/ok-first/{i}" for i in range(15)], "/fail-first")
    await checker.round()  # fifteen first records; the failing one has failed once
    await checker.round()  # twice: critical now, whatever the budget
    entry = service.registry.get("vm-1")
    assert entry is not None and entry.health is not None
    assert entry.health["svc15"] == "critical"
    assert sorted(entry.health.values()) == ["critical"] + ["passing"] * 15
    assert checker.suppressed == 0
    assert service.registry.discover("worker", healthy=True) == []


async def flap(checker: HealthChecker, services: Services, rounds: int) -> None:
    for _ in range(rounds):
        services.flap_healthy = not services.flap_healthy
        await checker.round()


def fresh_checker(service: Service) -> HealthChecker:
    prober = Prober(AllowList.parse(["127.0.0.1"]), timeout=0.5, concurrency=4)
    return HealthChecker(service.registry, prober, CheckPolicy(interval=INTERVAL, failures=1))


async def test_the_budget_is_rebuilt_from_the_log_by_a_new_checker(
    service: Service, services: Services
) -> None:
    """A restart, or a new leader, starts a new checker: it gets no fresh allowance."""
    await register(service, services, "/flap")
    services.flap_healthy = False
    first = fresh_checker(service)
    try:
        await flap(first, services, 8)  # passing (a first record), then four changes
    finally:
        await first.prober.close()
    assert len(recorded(service)) == 5
    written_at = [o.event.at for o in service.published if o.event.type == "vm.health"]
    service.clock.now += 3000  # three intervals later: the window still holds all four
    second = fresh_checker(service)
    try:
        await flap(second, services, 4)
        assert len(recorded(service)) == 5  # nothing more: the budget came back from the log
        assert second.budget.spent("vm-1") == written_at[1:]
        assert second.suppressed > 0
        service.clock.now = written_at[1] + int(10 * INTERVAL * 1000)  # the first change expires
        services.flap_healthy = False  # the log says passing
        await second.round()
        assert recorded(service)[5][1] == "critical"
    finally:
        await second.prober.close()


async def test_first_records_in_the_log_do_not_count_against_a_rebuilt_budget(
    service: Service, services: Services
) -> None:
    await register(service, services, *[f"/ok-rebuilt/{i}" for i in range(15)], "/flip-rebuilt")
    services.flip_healthy = True
    first = fresh_checker(service)
    try:
        await first.round()  # sixteen first records
    finally:
        await first.prober.close()
    assert len(recorded(service)) == 16
    services.flip_healthy = False
    second = fresh_checker(service)
    try:
        await second.round()  # a change, written at once: the budget holds no first record
        assert second.budget.spent("vm-1") != []
    finally:
        await second.prober.close()
    assert recorded(service)[-1] == ("svc15", "critical", "HTTP 503")
    assert second.suppressed == 0


async def test_a_deregistered_vm_leaves_no_failure_count_or_budget_behind(
    service: Service, checker: HealthChecker, services: Services
) -> None:
    """The checker's state is pruned each round to the live VMs' services (issue #25): a VM
    registered again under the same id starts with no failures counted and a full budget."""
    services.flap_healthy = True
    await register(service, services, "/flap")
    await checker.round()  # the first record: passing
    services.flap_healthy = False
    await checker.round()
    await checker.round()  # a change: critical, one slot of the budget spent
    services.flap_healthy = True
    await checker.round()  # passing again, a second slot
    assert len(checker.budget.spent("vm-1")) == 2
    services.flap_healthy = False
    await checker.round()  # one failure counted, not yet an outage
    await service.execute(cmd.Deregister("vm-1"))
    await checker.round()  # nothing due: the state of vm-1 is let go
    assert checker.budget.spent("vm-1") == []
    await register(service, services, "/flap")
    await checker.round()  # one failure counted afresh: still no status
    assert service.registry.get("vm-1").health in (None, {})  # type: ignore[union-attr]
