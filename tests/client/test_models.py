"""Wire shapes in and out: exact inverses, unknown fields kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vm_registry.client import Entry, Event, Registration, Service, Snapshot
from vm_registry.client.models import format_time, parse_time

ENTRY = {
    "id": "abc-123",
    "name": "billing-lt",
    "role": "lieutenant",
    "status": "running",
    "address": "abc-123.vm.vers.sh",
    "services": [{"name": "pi-rpc", "port": 3001}, {"name": "b", "port": 1, "healthPath": "/"}],
    "metadata": {"task": "process invoices"},
    "registeredBy": "orchestrator",
    "registeredAt": "2026-11-25T15:21:41.123Z",
    "lastSeen": "2026-11-25T15:22:00.000Z",
    "revision": 7,
    "stale": False,
    "somethingNew": [1, 2],
}


def test_entry_round_trip_keeps_unknown_fields() -> None:
    entry = Entry.from_wire(ENTRY)

    assert entry.registered_at == datetime(2026, 11, 25, 15, 21, 41, 123000, tzinfo=UTC)
    assert entry.services is not None and entry.services[1].health_path == "/"
    assert entry.extra == {"somethingNew": [1, 2]}
    assert entry.to_wire() == ENTRY


def test_minimal_entry_round_trip() -> None:
    minimal = {k: v for k, v in ENTRY.items() if k not in ("services", "metadata", "somethingNew")}
    assert Entry.from_wire(minimal).to_wire() == minimal


def test_event_round_trip_with_and_without_the_entry() -> None:
    body = {
        "seq": 3,
        "type": "vm.updated",
        "vmId": "abc-123",
        "at": "2026-11-25T15:21:41.000Z",
        "actor": {"ip": "127.0.0.1"},
        "data": {"status": "paused"},
        "vm": ENTRY,
    }
    event = Event.from_wire(body)

    assert event.vm == Entry.from_wire(ENTRY)
    assert event.to_wire(with_vm=True) == body
    assert "vm" not in event.to_wire()
    gone = Event.from_wire({**body, "type": "vm.deregistered", "vm": None})
    assert gone.to_wire(with_vm=True)["vm"] is None


def test_snapshot_round_trip() -> None:
    body = {"revision": 9, "vms": [ENTRY]}
    assert Snapshot.from_wire(body).to_wire() == body


def test_registration_to_wire_is_camel_case_and_omits_unset_fields() -> None:
    registration = Registration("a", "n", "worker", "addr", "me", services=[Service("x", 1, "/h")])

    assert registration.to_wire() == {
        "id": "a",
        "name": "n",
        "role": "worker",
        "address": "addr",
        "registeredBy": "me",
        "services": [{"name": "x", "port": 1, "healthPath": "/h"}],
    }
    assert Entry.from_wire(ENTRY).registration().to_wire()["metadata"] == ENTRY["metadata"]


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("pi-rpc:3001", Service("pi-rpc", 3001)),
        ("board:3000:/health", Service("board", 3000, "/health")),
    ],
)
def test_service_parse(text: str, service: Service) -> None:
    assert Service.parse(text) == service


@pytest.mark.parametrize("text", ["board", "board:", ":3000", "board:http"])
def test_service_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Service.parse(text)


def test_times_render_as_javascript_does() -> None:
    moment = parse_time("2026-11-25T15:21:41.1Z")
    assert format_time(moment) == "2026-11-25T15:21:41.100Z"
    assert parse_time("2026-11-25T15:21:41").tzinfo is not None


def test_the_clients_words_are_the_servers() -> None:
    # The client spells them out so that it imports nothing of the server (test_layers.py).
    from vm_registry.client import vocabulary as models
    from vm_registry.domain import events, model

    assert (models.ROLES, models.STATUSES) == (model.ROLES, model.STATUSES)
    assert models.EVENT_TYPES == events.EVENT_TYPES
