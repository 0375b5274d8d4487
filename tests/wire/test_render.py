"""Rendering entries and events in the wire's camelCase, and the entry encoding cache."""

from __future__ import annotations

import orjson

from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.wire import render
from vm_registry.wire.render import EntryRenderer

AT = 1_764_084_101_123


def an_entry(**changes: object) -> Entry:
    fields: dict[str, object] = {
        "id": "vm-1",
        "name": "worker",
        "role": "worker",
        "status": "running",
        "address": "vm-1.vm.vers.sh",
        "services": None,
        "metadata": None,
        "registered_by": "ops",
        "registered_at": AT,
        "last_seen": AT + 1000,
        "revision": 4,
        "created_seq": 1,
    }
    fields.update(changes)
    return Entry(**fields)  # type: ignore[arg-type]


def test_the_wire_form_of_an_event_is_camel_case_with_an_iso_time() -> None:
    event = Event(3, ev.HEARTBEAT, "vm-1", AT, {"ip": "::1"}, {})
    assert render.event(event) == {
        "seq": 3,
        "type": "vm.heartbeat",
        "vmId": "vm-1",
        "at": "2025-11-25T15:21:41.123Z",
        "actor": {"ip": "::1"},
        "data": {},
    }


def test_an_entry_is_camel_case_and_leaves_out_what_is_unset() -> None:
    body = render.entry(an_entry(), stale=False)
    assert body == {
        "id": "vm-1",
        "name": "worker",
        "role": "worker",
        "status": "running",
        "address": "vm-1.vm.vers.sh",
        "registeredBy": "ops",
        "registeredAt": "2025-11-25T15:21:41.123Z",
        "lastSeen": "2025-11-25T15:21:42.123Z",
        "revision": 4,
        "stale": False,
    }


def test_an_entry_not_heard_from_since_it_registered_was_last_seen_then() -> None:
    body = render.entry(an_entry(last_seen=AT), stale=False)
    assert body["registeredAt"] == body["lastSeen"] == "2025-11-25T15:21:41.123Z"


def test_services_and_metadata_are_rendered_when_set() -> None:
    services = [{"name": "api", "port": 80}]
    body = render.entry(an_entry(services=services, metadata={"zone": "a"}), stale=True)
    assert body["services"] == services
    assert body["metadata"] == {"zone": "a"}
    assert body["stale"] is True


def test_the_renderer_encodes_each_version_of_an_entry_once() -> None:
    renderer = EntryRenderer()
    entry = an_entry()
    first = renderer.encode(entry, False)
    assert renderer.encode(entry, False) is first
    assert orjson.loads(first) == render.entry(entry, False)
    newer = an_entry(revision=5)
    assert renderer.encode(newer, False) is not first
    assert orjson.loads(renderer.encode(newer, True))["stale"] is True


def test_a_list_body_joins_the_cached_encodings() -> None:
    renderer = EntryRenderer()
    one, two = an_entry(), an_entry(id="vm-2")
    body = orjson.loads(renderer.list_body([one, two], [False, True], {"vm-1": one, "vm-2": two}))
    assert body["count"] == 2
    assert [vm["id"] for vm in body["vms"]] == ["vm-1", "vm-2"]
    assert [vm["stale"] for vm in body["vms"]] == [False, True]
    assert orjson.loads(renderer.list_body([], [], {})) == {"vms": [], "count": 0}


def test_the_cache_lets_go_of_deregistered_vms_by_bytes_without_a_list() -> None:
    live: dict[str, Entry] = {}
    renderer = EntryRenderer(lambda: live)
    keep = live["kept"] = an_entry(id="kept", metadata={"pad": "k" * 1000})
    renderer.encode(keep, False)
    for n in range(2_000):  # registered, answered, deregistered: 4 MB of renderings
        renderer.encode(an_entry(id=f"gone-{n}", metadata={"pad": "x" * 2000}), False)
        assert renderer.bytes <= 2 * 1100 + EntryRenderer.PRUNE_SLACK + 2100
    assert renderer.encode(keep, False) is renderer.encode(keep, False)  # still cached
