"""Every method of the blocking client, against a real server."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.support.server import ServerProcess
from vm_registry.client import (
    Entry,
    Event,
    Heartbeat,
    Listing,
    NotFound,
    RegistryClient,
    Service,
)


def test_register_sends_camel_case_and_returns_a_typed_entry(
    registry: RegistryClient, shared_server: ServerProcess, vm_id: str
) -> None:
    entry = registry.register(
        vm_id,
        "billing-lt",
        "lieutenant",
        f"{vm_id}.vm.vers.sh",
        registered_by="orchestrator",
        services=[Service("pi-rpc", 3001), {"name": "board", "port": 3000, "healthPath": "/h"}],
        metadata={"task": "process invoices"},
    )

    assert isinstance(entry, Entry)
    assert entry.registered_by == "orchestrator"
    assert entry.status == "running"
    assert entry.services == (Service("pi-rpc", 3001), Service("board", 3000, "/h"))
    assert entry.metadata == {"task": "process invoices"}
    assert entry.registered_at == entry.last_seen
    assert abs((datetime.now(UTC) - entry.registered_at).total_seconds()) < 60
    raw = httpx.get(f"{shared_server.url}/registry/vms/{vm_id}").json()
    assert raw["registeredBy"] == "orchestrator"
    assert raw["services"][1]["healthPath"] == "/h"
    assert entry.to_wire() == raw


def test_list_filters_and_carries_the_revision(registry: RegistryClient, vm_id: str) -> None:
    w1, w2, infra = vm_id + "-w1", vm_id + "-w2", vm_id + "-i"
    registry.register(w1, "one", "worker", "w-1.vm.vers.sh", "me")
    registry.register(w2, "two", "worker", "w-2.vm.vers.sh", "me", status="paused")
    last = registry.register(infra, "infra", "infra", "i-1.vm.vers.sh", "self")
    mine = {w1, w2, infra}

    def ids(listing: Listing) -> list[str]:
        return [e.id for e in listing if e.id in mine]

    everything = registry.list()
    assert isinstance(everything, Listing)
    assert ids(everything) == [infra, w2, w1]  # newest first
    assert everything.revision == last.revision
    assert everything[0].id == infra and len(everything) >= 3
    assert ids(registry.list(role="worker")) == [w2, w1]
    assert ids(registry.list(status="paused")) == [w2]
    assert ids(registry.list(role="worker", status="running")) == [w1]
    found = registry.discover("worker")
    assert ids(found) == [w1]
    assert found.revision == last.revision
    assert registry.health()["status"] == "ok"


def test_get_update_heartbeat_deregister(registry: RegistryClient, vm_id: str) -> None:
    first = registry.register(vm_id, "one", "worker", "a.vm.vers.sh", "me")

    assert registry.get(vm_id).name == "one"
    updated = registry.update(vm_id, status="paused", metadata={"reason": "saving"})
    assert (updated.status, updated.metadata) == ("paused", {"reason": "saving"})
    assert updated.revision is not None and first.revision is not None
    assert updated.revision > first.revision
    with_services = registry.update(vm_id, services=[Service("api", 8080)])
    assert with_services.services == (Service("api", 8080),)

    beat = registry.heartbeat(vm_id)
    assert isinstance(beat, Heartbeat)
    assert beat.id == vm_id
    assert registry.get(vm_id).last_seen == beat.last_seen

    assert registry.deregister(vm_id) is None
    with pytest.raises(NotFound):
        registry.get(vm_id)
    assert registry.register(vm_id, "again", "worker", "a", "me").name == "again"


def test_update_and_deregister_with_if_revision(registry: RegistryClient, vm_id: str) -> None:
    entry = registry.register(vm_id, "one", "worker", "a", "me")
    assert entry.revision is not None

    renamed = registry.update(vm_id, name="two", if_revision=entry.revision)
    assert renamed.name == "two"
    assert renamed.revision is not None
    registry.deregister(vm_id, if_revision=renamed.revision)


def test_discover_leaves_out_stopped_vms(registry: RegistryClient, vm_id: str) -> None:
    registry.register(vm_id, "a", "golden", "a", "me")
    registry.register(vm_id + "-off", "b", "golden", "b", "me", status="stopped")

    found = {e.id for e in registry.discover("golden")}
    assert vm_id in found and vm_id + "-off" not in found


def test_ids_are_sent_as_one_path_segment(registry: RegistryClient, vm_id: str) -> None:
    odd = f"{vm_id} ?x=#y%2F"
    registry.register(odd, "odd", "worker", "a", "me")

    assert registry.get(odd).id == odd
    assert registry.heartbeat(odd).id == odd
    registry.deregister(odd)


def test_base_url_comes_from_the_environment(
    shared_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERS_INFRA_URL", shared_server.url + "/")
    with RegistryClient() as client:
        assert client.base_url == shared_server.url
        assert client.health()["status"] == "ok"
    with RegistryClient("http://127.0.0.1:1") as explicit:
        assert explicit.base_url == "http://127.0.0.1:1"


def test_events_and_history(
    registry: RegistryClient, shared_server: ServerProcess, vm_id: str
) -> None:
    one, two = vm_id, vm_id + "-2"
    start = registry.list().revision
    registry.register(one, "one", "worker", "a", "me")
    registry.heartbeat(one)
    registry.deregister(one)
    registry.register(one, "two", "worker", "a", "me")
    registry.register(two, "other", "worker", "b", "me")

    events = registry.events(after=start)
    assert all(isinstance(e, Event) for e in events)
    assert start is not None
    assert [e.seq for e in events] == [start + n for n in range(1, 6)]
    assert [e.vm_id for e in registry.events(after=start + 3)] == [one, two]
    assert [e.seq for e in registry.events(after=start, limit=2)] == [start + 1, start + 2]
    assert [e.seq for e in registry.events(vm=two)] == [start + 5]
    assert [e.seq for e in registry.events(after=start, type="vm.heartbeat")] == [start + 2]
    in_window = registry.events(since=events[1].at, until=events[-1].at, vm=one)
    assert in_window and all(events[1].at <= e.at <= events[-1].at for e in in_window)

    history = registry.history(one)
    assert [e.type for e in history] == [
        "vm.registered",
        "vm.heartbeat",
        "vm.deregistered",
        "vm.registered",
    ]
    assert history[0].data["name"] == "one"
    assert history[0].actor
    with pytest.raises(NotFound):
        registry.history(vm_id + "-never")


def test_history_follows_its_pages_to_the_end(
    registry: RegistryClient, shared_server: ServerProcess, vm_id: str
) -> None:
    """The server ends a history page at 4 MiB of event data; `history()` still returns all of
    it, each event once, oldest first."""
    registry.register(vm_id, "big", "worker", "a", "me")
    for n in range(80):  # 60 KB each: about 70 reach 4 MiB, so two pages and an empty one
        registry.update(vm_id, metadata={"pad": f"{n:08d}" + "x" * 60_000})
    first = httpx.get(f"{shared_server.url}/registry/vms/{vm_id}/history").json()["events"]
    assert 1 < len(first) < 81

    history = registry.history(vm_id)
    assert [e.type for e in history] == ["vm.registered"] + ["vm.updated"] * 80
    assert [e.data["metadata"]["pad"][:8] for e in history[1:]] == [f"{n:08d}" for n in range(80)]
    assert [e.to_wire() for e in history[: len(first)]] == first
