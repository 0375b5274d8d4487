"""The asyncio client: the same methods, awaited, against a real server."""

from __future__ import annotations

import asyncio

import pytest

from vm_registry.client import (
    AsyncRegistryClient,
    Conflict,
    Entry,
    Heartbeat,
    Invalid,
    Listing,
    NotFound,
    Service,
)


async def test_every_method(aregistry: AsyncRegistryClient, vm_id: str) -> None:
    entry = await aregistry.register(
        vm_id, "lt", "lieutenant", "a.vm.vers.sh", "orchestrator",
        services=[Service("pi-rpc", 3001)], metadata={"k": "v"},
    )  # fmt: skip
    assert isinstance(entry, Entry) and entry.registered_by == "orchestrator"
    assert aregistry.last_registration(vm_id) is not None

    listing = await aregistry.list(role="lieutenant")
    assert isinstance(listing, Listing) and vm_id in {e.id for e in listing}
    assert listing.revision is not None and listing.revision >= (entry.revision or 0)
    assert vm_id in {e.id for e in await aregistry.discover("lieutenant")}
    assert (await aregistry.get(vm_id)).services == (Service("pi-rpc", 3001),)

    paused = await aregistry.update(vm_id, status="paused")
    assert paused.status == "paused"
    assert vm_id not in {e.id for e in await aregistry.discover("lieutenant")}
    assert vm_id in {e.id for e in await aregistry.list(status="paused")}

    beat = await aregistry.heartbeat(vm_id)
    assert isinstance(beat, Heartbeat) and beat.id == vm_id

    await aregistry.deregister(vm_id)
    with pytest.raises(NotFound):
        await aregistry.get(vm_id)
    assert (await aregistry.health())["status"] == "ok"


async def test_errors(aregistry: AsyncRegistryClient, vm_id: str) -> None:
    await aregistry.register(vm_id, "n", "worker", "a", "me")
    with pytest.raises(Conflict):
        await aregistry.register(vm_id, "n", "worker", "a", "me")
    with pytest.raises(Invalid):
        await aregistry.update(vm_id, status="sleeping")
    with pytest.raises(NotFound):
        await aregistry.heartbeat(vm_id + "-missing")


async def test_concurrent_registrations_of_one_id_yield_one_winner(
    aregistry: AsyncRegistryClient, vm_id: str
) -> None:
    attempts = [aregistry.register(vm_id, f"n{i}", "worker", "a", "me") for i in range(10)]
    results = await asyncio.gather(*attempts, return_exceptions=True)

    assert sum(isinstance(r, Entry) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 9


async def test_reads_ask_for_the_revision_of_the_clients_last_write(
    aregistry: AsyncRegistryClient, vm_id: str
) -> None:
    entry = await aregistry.register(vm_id, "lt", "worker", "a.vm.vers.sh", "tests")
    assert aregistry.last_write_revision == entry.revision
    beat = await aregistry.heartbeat(vm_id)
    assert beat.revision is not None
    assert aregistry.last_write_revision is not None
    assert aregistry.last_write_revision >= beat.revision
    assert vm_id in {e.id for e in await aregistry.list()}
    # Proof that reads carry it: a revision the log never reached is refused by the server.
    aregistry.last_write_revision = 10**15
    with pytest.raises(Invalid, match="minRevision"):
        await aregistry.get(vm_id)
    with pytest.raises(Invalid, match="minRevision"):
        await aregistry.discover("worker")
