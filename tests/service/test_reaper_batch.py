"""Issue #11: the reaper marked stale VMs one command, so one transaction, at a time. It now
submits them together, and the writer commits them as one group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.events import STALE
from vm_registry.service.reaper import GuardPolicy, Reaper

DATA = {
    "name": "w",
    "role": "worker",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "orchestrator",
}


async def test_stale_vms_are_marked_in_one_group_commit(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service = await Service(tmp_path / "registry.db", clock, stale_after=10.0).start()
    try:
        for n in range(40):
            await service.execute(cmd.Register(f"vm-{n}", DATA))
        batches: list[list[Any]] = []
        service.writer.subscribers = [batches.append]
        clock.now += 60_000
        await Reaper(service.registry, 1.0, GuardPolicy(enabled=False)).tick()
        assert [len(batch) for batch in batches] == [40]
        assert {outcome.event.type for outcome in batches[0]} == {STALE}
        assert all(entry.stale for entry in service.registry.vms.values())
    finally:
        await service.stop()
