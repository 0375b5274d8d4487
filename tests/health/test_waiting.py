"""The clients' `wait_for_vm` and `wait_for_role`, on blocking queries against a real server."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.server import ServerProcess
from vm_registry.client import AsyncRegistryClient, RegistryClient, WaitTimeout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("waiting") / "registry.db").start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def registry(server: ServerProcess) -> Iterator[RegistryClient]:
    with RegistryClient(server.url) as client:
        yield client


def new_id() -> str:
    return f"vm-{uuid.uuid4().hex[:10]}"


def later(server: ServerProcess, action: Callable[[RegistryClient], object]) -> threading.Thread:
    """Run `action` once the server holds a blocking query, as another agent would."""

    def run() -> None:
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/health").json()["heldQueries"] == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        with RegistryClient(server.url) as other:
            action(other)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def register(client: RegistryClient, vm_id: str, role: str = "lieutenant", **kw: object) -> None:
    client.register(vm_id, vm_id, role, f"{vm_id}.vm.vers.sh", "test", **kw)  # type: ignore[arg-type]


def test_wait_for_vm_until_it_is_registered_and_running(
    server: ServerProcess, registry: RegistryClient
) -> None:
    vm_id = new_id()
    helper = later(server, lambda other: register(other, vm_id))
    entry = registry.wait_for_vm(vm_id, timeout=30)
    helper.join()
    assert (entry.id, entry.status) == (vm_id, "running")


def test_wait_for_vm_with_a_condition(server: ServerProcess, registry: RegistryClient) -> None:
    vm_id = new_id()
    register(registry, vm_id)
    helper = later(server, lambda other: other.update(vm_id, metadata={"ready": True}))
    entry = registry.wait_for_vm(vm_id, lambda e: bool(e.metadata), timeout=30)
    helper.join()
    assert entry.metadata == {"ready": True}


def test_wait_for_role_until_it_has_enough_running_vms(
    server: ServerProcess, registry: RegistryClient
) -> None:
    first, second = new_id(), new_id()
    register(registry, first, role="golden")
    helper = later(server, lambda other: register(other, second, role="golden"))
    listing = registry.wait_for_role("golden", 2, timeout=30)
    helper.join()
    assert {first, second} <= {e.id for e in listing}


def test_a_wait_that_never_comes_true_times_out_with_what_it_saw(
    registry: RegistryClient,
) -> None:
    vm_id = new_id()
    register(registry, vm_id, status="paused")
    with pytest.raises(WaitTimeout, match=f"VM '{vm_id}' to be running") as caught:
        registry.wait_for_vm(vm_id, timeout=0.5)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.last.entry.status == "paused"


async def test_the_async_client_waits_the_same_way(server: ServerProcess) -> None:
    vm_id = new_id()
    helper = later(server, lambda other: register(other, vm_id, role="custom"))
    async with AsyncRegistryClient(server.url) as client:
        listing = await client.wait_for_role("custom", 1, timeout=30)
        entry = await client.wait_for_vm(vm_id, timeout=30)
    await asyncio.to_thread(helper.join)
    assert vm_id in {e.id for e in listing}
    assert entry.id == vm_id
