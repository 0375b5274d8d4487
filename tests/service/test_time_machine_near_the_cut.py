"""Issue #11, two time-travel findings:

- On a compacted log, `asOf` a time after the cut's event but before the first event kept
  answered 410, although the snapshot at the cut is exactly the state then. The cut's time is
  now recorded by the compaction, and such times are answered from the snapshot.
- A corrupt snapshot was re-checked, and warned about, on every time-travel request that
  reached it. The verdict is now remembered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from tests.support import backend
from vm_registry.audit.compact import compact
from vm_registry.domain import commands as cmd
from vm_registry.domain import snapshot
from vm_registry.domain.errors import Gone
from vm_registry.service import time_machine
from vm_registry.service.time_machine import TimeMachine

DATA = {
    "name": "w",
    "role": "worker",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "orchestrator",
}


async def test_as_of_a_time_between_the_cut_and_the_next_event_is_the_cut(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service = await Service(tmp_path / "registry.db", clock).start()
    try:
        await service.execute(cmd.Register("vm-1", DATA))  # seq 1 at T0
        for seq in range(2, 6):  # seqs 2..5, a second apart
            clock.now = T0 + (seq - 1) * 1000
            await service.execute(cmd.Heartbeat("vm-1"))
        clock.now = T0 + 60_000
        await service.execute(cmd.Heartbeat("vm-1"))  # seq 6, a minute later
        machine = TimeMachine(service.store, service.state)
        before = await machine.state_at(5)
        await compact(service.store, 5)
        now = clock.now + 1
        assert await machine.seq_as_of(T0 + 30_000, now) == 5
        assert await machine.seq_as_of(T0 + 4_000, now) == 5  # the cut's own moment
        assert (await machine.state_at(5)).entries == before.entries
        assert await machine.seq_as_of(T0 + 60_000, now) == 6
        with pytest.raises(Gone):
            await machine.seq_as_of(T0 + 3_999, now)  # before the cut: really gone
    finally:
        await service.stop()


async def test_a_corrupt_snapshot_is_judged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service = await Service(tmp_path / "registry.db", FakeClock(T0)).start()
    try:
        await service.execute(cmd.Register("vm-1", DATA))
        for _ in range(24):
            await service.execute(cmd.Heartbeat("vm-1"))
        machine = TimeMachine(service.store, service.state)
        for seq in (10, 20):
            state = await machine.state_at(seq)
            chain = await service.store.log.hash_at(seq)
            assert chain is not None
            await service.store.snapshots.save(seq, chain, snapshot.encode(state))
        junk = "decode('00ff', 'hex')" if backend.ON_POSTGRES else "x'00ff'"
        backend.execute(service.db, f"UPDATE snapshots SET body = {junk} WHERE seq = 20")
        expected = {seq: (await machine.state_at(seq)).entries for seq in (21, 22, 23)}
        monkeypatch.setattr(time_machine, "NEARBY", 0)  # every request looks for a snapshot
        fresh = TimeMachine(service.store, service.state)
        with caplog.at_level(logging.WARNING, logger="vm_registry.snapshots"):
            for seq in (22, 21, 23, 22, 23):
                assert (await fresh.state_at(seq)).entries == expected[seq]
        warnings = [r for r in caplog.records if "ignoring snapshot" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "seq 20" in warnings[0].getMessage()
    finally:
        await service.stop()
