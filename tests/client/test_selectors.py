"""`selector=` through the client (issue #24): list, discover, wait_for_role and watch, sync and
async; a VM leaving the watched set arrives with `left=True`."""

from __future__ import annotations

import itertools
import uuid

import pytest

from vm_registry.client import AsyncRegistryClient, Event, Invalid, RegistryClient

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
