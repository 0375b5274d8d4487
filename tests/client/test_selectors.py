"""`selector=` through the client (issue #24): list, discover, wait_for_role, wait_for_vm and
watch, sync and async; a VM leaving the watched set arrives with `left=True`."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from vm_registry.client import AsyncRegistryClient, Event, Invalid, RegistryClient, WaitTimeout

pytestmark = pytest.mark.timeout(30)


def fleet(client: RegistryClient) -> str:
    run = uuid.uuid4().hex[:12]
    for name, task in (("a", "billing"), ("b", "billing"), ("c", "search")):
        meta = {"run": run, "task": task, "gpu": {"model": "a100"}} if name == "a" else None
        metadata = meta or {"run": run, "task": task}
        client.register(f"{run}-{name}", name, "worker", "addr", "test", metadata=metadata)
    return run


def test_list_discover_and_wait_take_a_selector(registry: RegistryClient) -> None:
    run = fleet(registry)
    billing = f"run={run},task=billing"
    assert {e.name for e in registry.list(selector=billing)} == {"a", "b"}
    assert {e.name for e in registry.list(selector=f"run={run},gpu.model=a100")} == {"a"}
    assert {e.name for e in registry.discover("worker", selector=billing)} == {"a", "b"}
    waited = registry.wait_for_role("worker", 2, selector=billing, timeout=10)
    assert len(waited) == 2
    with pytest.raises(Invalid, match="selector is malformed at character"):
        registry.list(selector="task in billing")


def test_watch_with_a_selector_marks_a_vm_that_left(registry: RegistryClient) -> None:
    run = fleet(registry)
    start = registry.list().revision
    registry.update(f"{run}-b", metadata={"run": run, "task": "search"})  # leaves billing
    registry.update(f"{run}-c", metadata={"run": run, "task": "billing"})  # enters it
    registry.deregister(f"{run}-a")
    stream = registry.watch(selector=f"run={run},task=billing", after=start)
    items = [i for i in itertools.islice(stream, 3) if isinstance(i, Event)]
    stream.close()
    assert [(i.type, i.vm_id.rsplit("-", 1)[1], i.left) for i in items] == [
        ("vm.updated", "b", True),
        ("vm.updated", "c", False),
        ("vm.deregistered", "a", False),
    ]
    assert items[0].to_wire()["left"] is True


async def test_the_async_client_takes_a_selector(
    registry: RegistryClient, aregistry: AsyncRegistryClient
) -> None:
    run = fleet(registry)
    found = await aregistry.list(selector=f"run={run},task notin (billing)")
    assert [e.name for e in found] == ["c"]
    found = await aregistry.discover("worker", selector=f"run={run},!gpu")
    assert {e.name for e in found} == {"b", "c"}


async def test_wait_for_vm_with_a_selector_waits_until_a_patch_makes_it_match(
    registry: RegistryClient, aregistry: AsyncRegistryClient
) -> None:
    run = fleet(registry)
    waiting = asyncio.ensure_future(
        aregistry.wait_for_vm(f"{run}-c", selector=f"run={run},task=billing", timeout=20)
    )
    await asyncio.sleep(0.2)  # not needed for the outcome: a PATCH before the wait also ends it
    assert not waiting.done()  # running, but searching
    await aregistry.update(f"{run}-c", metadata={"run": run, "task": "billing"})
    entry = await waiting
    assert entry.id == f"{run}-c" and entry.metadata == {"run": run, "task": "billing"}


def test_wait_for_vm_with_a_selector_it_never_matches_times_out(
    registry: RegistryClient,
) -> None:
    run = fleet(registry)
    with pytest.raises(WaitTimeout, match="matching 'task=search'") as timed_out:
        registry.wait_for_vm(f"{run}-a", selector="task=search", timeout=1)
    assert timed_out.value.last.entry is None  # running, but not matching
    with pytest.raises(WaitTimeout):  # matching, but not the condition
        registry.wait_for_vm(
            f"{run}-a", lambda e: e.status == "paused", selector=f"run={run}", timeout=1
        )
    found = registry.wait_for_vm(f"{run}-a", selector=f"run={run},gpu.model=a100", timeout=5)
    assert found.name == "a"


def test_wait_for_vm_with_a_malformed_selector_is_refused_at_once(
    registry: RegistryClient,
) -> None:
    run = fleet(registry)
    for vm_id in (f"{run}-a", f"{run}-never-registered"):
        with pytest.raises(Invalid, match="selector is malformed at character"):
            registry.wait_for_vm(vm_id, selector="task in billing", timeout=30)
