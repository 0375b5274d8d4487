"""`Heartbeater`: beats in the background, survives failures, restores a lost entry."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.polling import eventually
from tests.support.server import ServerProcess, free_port
from vm_registry.client import (
    AsyncRegistryClient,
    Heartbeater,
    NotFound,
    Registration,
    RegistryClient,
    Service,
)

pytestmark = pytest.mark.timeout(30)


def test_beats_in_the_background(registry: RegistryClient, vm_id: str) -> None:
    first = registry.register(vm_id, "n", "worker", "a", "me")

    with Heartbeater(registry, vm_id, interval=0.05) as beater:
        eventually(lambda: beater.beats >= 3)

    assert registry.get(vm_id).last_seen > first.last_seen
    stopped_at = beater.beats
    time.sleep(0.2)
    assert beater.beats == stopped_at


def test_registers_again_after_a_deregistration(registry: RegistryClient, vm_id: str) -> None:
    registry.register(
        vm_id, "lt", "lieutenant", "a.vm.vers.sh", "orchestrator",
        services=[Service("pi-rpc", 3001)], metadata={"task": "invoices"},
    )  # fmt: skip

    with Heartbeater(registry, vm_id, interval=0.05) as beater:
        eventually(lambda: beater.beats >= 1)
        registry.deregister(vm_id)
        eventually(lambda: beater.reregistrations == 1)

    restored = registry.get(vm_id)
    assert (restored.name, restored.role, restored.registered_by) == (
        "lt",
        "lieutenant",
        "orchestrator",
    )
    assert restored.services == (Service("pi-rpc", 3001),)
    assert restored.metadata == {"task": "invoices"}


def test_without_a_known_registration_it_remembers_the_entry_at_start(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str
) -> None:
    registry.register(vm_id, "remembered", "golden", "a", "me")

    with RegistryClient(shared_server.url) as stranger:
        assert stranger.last_registration(vm_id) is None
        with Heartbeater(stranger, vm_id, interval=0.05) as beater:
            eventually(lambda: beater.beats >= 1)
            registry.deregister(vm_id)
            eventually(lambda: beater.reregistrations == 1)

    assert registry.get(vm_id).name == "remembered"


def test_failures_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    client = RegistryClient(f"http://127.0.0.1:{free_port()}")
    with client, Heartbeater(client, "vm-x", interval=0.05) as beater:
        eventually(lambda: beater.failures >= 3)

    assert beater.beats == 0
    assert "cannot reach the registry" in caplog.text


def test_a_lost_entry_without_a_registration_is_reported(
    registry: RegistryClient, vm_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Heartbeater(registry, vm_id, interval=0.05) as beater:
        eventually(lambda: "no registration to restore" in caplog.text)
    assert beater.reregistrations == 0
    with pytest.raises(NotFound):
        registry.get(vm_id)


async def test_async_heartbeater_registers_again(
    aregistry: AsyncRegistryClient, vm_id: str
) -> None:
    registration = Registration(vm_id, "w", "worker", "a", "me", metadata={"pid": 1})

    async with Heartbeater(aregistry, vm_id, interval=0.05, registration=registration) as beater:
        await aregistry.register_from(registration)
        while beater.beats < 2:
            await asyncio.sleep(0.02)
        await aregistry.deregister(vm_id)
        while beater.reregistrations < 1:
            await asyncio.sleep(0.02)

    assert (await aregistry.get(vm_id)).metadata == {"pid": 1}


async def test_the_flavour_must_match_the_client(
    registry: RegistryClient, aregistry: AsyncRegistryClient
) -> None:
    with pytest.raises(TypeError):
        async with Heartbeater(registry, "x"):
            pass
    with pytest.raises(TypeError), Heartbeater(aregistry, "x"):
        pass
