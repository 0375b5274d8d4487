"""`watch`: every event exactly once, in order, across server restarts and refusals."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess
from vm_registry.client import (
    AsyncRegistryClient,
    Event,
    Invalid,
    RegistryClient,
    Snapshot,
    WatchItem,
)

pytestmark = pytest.mark.timeout(30)


def take(stream: Iterator[WatchItem], count: int) -> list[WatchItem]:
    return list(itertools.islice(stream, count))


def seqs(items: list[WatchItem]) -> list[int]:
    return [item.seq for item in items if isinstance(item, Event)]


def register(client: RegistryClient, *ids: str, role: str = "worker") -> None:
    for vm_id in ids:
        client.register(vm_id, vm_id, role, f"{vm_id}.vm.vers.sh", "test")


def test_list_then_watch_gives_exactly_the_later_changes_in_order(
    registry: RegistryClient, vm_id: str
) -> None:
    other = vm_id + "-b"
    register(registry, vm_id)
    start = registry.list().revision
    assert start is not None
    register(registry, other)
    registry.heartbeat(vm_id)
    registry.deregister(other)

    stream = registry.watch(after=start)
    items = take(stream, 3)
    stream.close()

    assert seqs(items) == [start + 1, start + 2, start + 3]
    assert [(i.type, i.vm_id) for i in items if isinstance(i, Event)] == [
        ("vm.registered", other),
        ("vm.heartbeat", vm_id),
        ("vm.deregistered", other),
    ]
    first, last = items[0], items[-1]
    assert isinstance(first, Event) and isinstance(last, Event)
    assert first.vm is not None and first.vm.name == other
    assert first.actor
    assert last.vm is None


def test_snapshot_then_live(registry: RegistryClient, vm_id: str) -> None:
    register(registry, vm_id)
    stream = registry.watch(snapshot=True, vm=vm_id)
    snapshot = next(stream)
    registry.heartbeat(vm_id)
    event = next(stream)
    stream.close()

    assert isinstance(snapshot, Snapshot)
    assert [vm.id for vm in snapshot.vms] == [vm_id]
    assert isinstance(event, Event)
    assert (event.type, event.seq) == ("vm.heartbeat", snapshot.revision + 1)


def test_filters(registry: RegistryClient, vm_id: str) -> None:
    worker, lt1, lt2 = vm_id + "-w", vm_id + "-lt1", vm_id + "-lt2"
    start = registry.list().revision
    register(registry, worker)
    register(registry, lt1, role="lieutenant")
    registry.heartbeat(lt1)
    registry.heartbeat(worker)
    register(registry, lt2, role="lieutenant")

    by_role = registry.watch(role="lieutenant", after=start)
    assert [(e.vm_id, e.type) for e in take(by_role, 3) if isinstance(e, Event)] == [
        (lt1, "vm.registered"),
        (lt1, "vm.heartbeat"),
        (lt2, "vm.registered"),
    ]
    by_role.close()
    by_vm_and_type = registry.watch(vm=worker, types=["vm.heartbeat"], after=start)
    (beat,) = take(by_vm_and_type, 1)
    by_vm_and_type.close()
    assert isinstance(beat, Event) and (beat.vm_id, beat.type) == (worker, "vm.heartbeat")


def test_a_refused_watch_raises(registry: RegistryClient) -> None:
    with pytest.raises(Invalid):
        next(registry.watch(types=["vm.exploded"]))


def test_sync_watch_across_a_server_restart(
    server: ServerProcess, fresh_registry: RegistryClient
) -> None:
    register(fresh_registry, "a", "b")

    def restart_and_write() -> None:
        time.sleep(0.3)
        server.stop()
        server.start()
        register(fresh_registry, "c", "d")
        fresh_registry.heartbeat("a")

    stream = fresh_registry.watch(after=2, max_delay=0.2)
    writer = threading.Thread(target=restart_and_write)
    register(fresh_registry, "x")
    items = take(stream, 1)
    writer.start()
    items += take(stream, 3)
    stream.close()
    writer.join()

    assert seqs(items) == [3, 4, 5, 6]


async def test_async_watch_across_a_kill_and_restart(server: ServerProcess) -> None:
    async with AsyncRegistryClient(server.url) as client:
        for vm_id in ("a", "b", "c"):
            await client.register(vm_id, vm_id, "worker", "addr", "test")
        stream = client.watch(after=1, max_delay=0.2)
        items = [await anext(stream), await anext(stream)]

        await asyncio.to_thread(server.kill)  # kill -9: the stream just breaks
        await asyncio.to_thread(server.start)
        for vm_id in ("d", "e"):
            await client.register(vm_id, vm_id, "worker", "addr", "test")
        items += [await anext(stream), await anext(stream)]
        await stream.aclose()

    assert seqs(items) == [2, 3, 4, 5]


async def test_async_snapshot_watch(aregistry: AsyncRegistryClient, vm_id: str) -> None:
    stream = aregistry.watch(snapshot=True, vm=vm_id)
    snapshot = await anext(stream)
    await aregistry.register(vm_id, "n", "custom", "a", "test")
    event = await anext(stream)
    await stream.aclose()

    assert isinstance(snapshot, Snapshot) and snapshot.vms == ()
    assert isinstance(event, Event) and event.vm_id == vm_id
    assert event.seq > snapshot.revision


def test_waits_for_a_subscriber_slot(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "r.db", args=["--max-subscribers", "1"]).start()
    try:
        with RegistryClient(proc.url) as client:
            first = client.watch(after=0)
            register(client, "a")
            assert seqs(take(first, 1)) == [1]  # holds the only slot

            second = client.watch(after=0, max_delay=0.2)
            got: list[WatchItem] = []
            reader = threading.Thread(target=lambda: got.extend(take(second, 1)))
            reader.start()
            time.sleep(0.5)
            assert got == []  # 503s, retried quietly
            first.close()
            reader.join(10)
            second.close()
            assert seqs(got) == [1]
    finally:
        proc.kill()


def test_a_mirror_sees_a_lieutenant_go_stale_and_recover(tmp_path: Path) -> None:
    """The orchestrator loop of docs/client.md."""
    args = ["--stale-after", "0.5", "--reap-interval", "0.1"]
    proc = ServerProcess(tmp_path / "r.db", args=args).start()
    try:
        with RegistryClient(proc.url) as client:
            register(client, "lt-1", role="lieutenant")
            fleet: dict[str, bool] = {}
            stream = client.watch(role="lieutenant", snapshot=True)
            for item in stream:
                if isinstance(item, Snapshot):
                    fleet = {vm.id: vm.stale for vm in item.vms}
                    continue
                assert item.vm is not None
                fleet[item.vm_id] = item.vm.stale
                if item.type == "vm.stale":
                    assert fleet == {"lt-1": True}
                    assert client.discover("lieutenant").vms == ()
                    client.heartbeat("lt-1")
                elif item.type == "vm.heartbeat":
                    break
            stream.close()
        assert fleet == {"lt-1": False}
    finally:
        proc.kill()
