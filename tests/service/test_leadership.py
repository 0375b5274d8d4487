"""Leadership: the campaign takes a free lease, notices a lost one, and leader-only work runs
only while it is held. The lease here is a stand-in for the log's (its own tests run against
SQLite and PostgreSQL); what is tested is the service's use of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.service.leadership import Leadership
from vm_registry.service.reaper import GuardPolicy, Reaper
from vm_registry.service.snapshots import Snapshotter

DATA = {"name": "a", "role": "worker", "address": "a.vm.vers.sh", "registeredBy": "tests"}


class Lease:
    """One lease shared by several campaigns, as the log's lock is shared by several replicas."""

    holder: object | None = None
    where = "a test lease"

    def __init__(self, shared: Lease | None = None) -> None:
        self.shared = shared or self

    @property
    def held(self) -> bool:
        return self.shared.holder is self

    async def try_acquire(self) -> bool:
        if self.shared.holder is None:
            self.shared.holder = self
        return self.held

    async def release(self) -> None:
        if self.held:
            self.shared.holder = None


async def test_one_campaign_wins_and_another_takes_over_when_it_lets_go() -> None:
    shared = Lease()
    first, second = Lease(shared), Lease(shared)
    a, b = Leadership(first, 0.01), Leadership(second, 0.01)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
        await a.stop()  # the leader goes away
        for _ in range(200):
            if b.is_leader:
                break
            await asyncio.sleep(0.01)
        assert b.is_leader and not a.is_leader
    finally:
        await a.stop()
        await b.stop()


async def test_a_replica_that_is_not_the_leader_neither_reaps_nor_snapshots(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    service = await Service(tmp_path / "registry.db", clock, stale_after=1.0).start()
    leader = False
    try:
        await service.execute(cmd.Register("vm-1", DATA))
        clock.now += 60_000  # long past the window and the startup grace
        reaper = Reaper(service.registry, 0.01, GuardPolicy(enabled=False), lambda: leader)
        snapshots = Snapshotter(service.store, service.state, 1, 0, lambda: leader)
        reaper.start()
        await asyncio.sleep(0.1)
        assert not service.registry.get("vm-1").stale  # type: ignore[union-attr]
        snapshots.observe([])
        await snapshots.final()
        assert await service.store.snapshots.infos() == []

        leader = True
        for _ in range(200):
            if service.registry.get("vm-1").stale:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        assert service.registry.get("vm-1").stale  # type: ignore[union-attr]
        await reaper.stop()
        await snapshots.final()
        assert [s.seq for s in await service.store.snapshots.infos()] == [2]
    finally:
        await service.stop()
