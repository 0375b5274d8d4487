"""The state as of any seq (time travel), and the seq as of a time."""

from __future__ import annotations

import pytest

from tests.domain.strategies import T0
from tests.service.harness import Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Invalid
from vm_registry.service.time_machine import TimeMachine

DATA = {
    "name": "n",
    "role": "worker",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "me",
}


async def test_the_state_at_a_seq_is_the_log_folded_up_to_it(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    service.clock.now += 1000
    await service.execute(cmd.Update("a", {"name": "renamed"}))
    await service.execute(cmd.Deregister("a"))
    machine = TimeMachine(service.store, service.state)
    assert (await machine.state_at(0)).entries == {}
    first = await machine.state_at(1)
    assert first.entries["a"].name == "n"
    assert (await machine.state_at(2)).entries["a"].name == "renamed"
    assert "a" not in (await machine.state_at(3)).entries
    assert await machine.state_at(3) is service.state  # the live projection


async def test_a_seq_beyond_the_head_is_refused(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    machine = TimeMachine(service.store, service.state)
    with pytest.raises(Invalid, match="beyond the head"):
        await machine.state_at(2)


async def test_the_seq_as_of_a_time_is_the_last_event_at_or_before_it(service: Service) -> None:
    await service.execute(cmd.Register("a", DATA))
    service.clock.now += 1000
    await service.execute(cmd.Heartbeat("a"))
    machine = TimeMachine(service.store, service.state)
    assert await machine.seq_as_of(T0 + 500, now_ms=T0 + 2000) == 1
    assert await machine.seq_as_of(T0 + 1000, now_ms=T0 + 2000) == 2
    with pytest.raises(Invalid, match="future"):
        await machine.seq_as_of(T0 + 5000, now_ms=T0 + 2000)
