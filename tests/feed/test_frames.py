"""The SSE wire format, byte for byte (feed/frames.py and the frame a committed event gets)."""

from __future__ import annotations

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.feed import frames
from vm_registry.feed.tail import FRAME, feed_item

T0 = 1_795_000_000_000  # 2026-11-18T11:06:40.000Z


def test_a_message_has_id_event_and_one_data_line_then_a_blank_line() -> None:
    assert frames.message("vm.heartbeat", {"seq": 7}, 7) == (
        b'id: 7\nevent: vm.heartbeat\ndata: {"seq":7}\n\n'
    )


def test_a_message_without_a_seq_has_no_id_line() -> None:
    assert frames.message("snapshot", {"a": 1}) == b'event: snapshot\ndata: {"a":1}\n\n'


def test_newlines_in_the_payload_stay_inside_one_data_line() -> None:
    frame = frames.message("vm.updated", {"name": "two\nlines\r\n"}, 1)
    assert frame == b'id: 1\nevent: vm.updated\ndata: {"name":"two\\nlines\\r\\n"}\n\n'
    assert frame.count(b"\n") == 4


def test_non_ascii_payloads_are_utf8() -> None:
    assert frames.message("vm.updated", {"name": "héllo 🚀"}, 2) == (
        b'id: 2\nevent: vm.updated\ndata: {"name":"h\xc3\xa9llo \xf0\x9f\x9a\x80"}\n\n'
    )


def test_retry_is_a_bare_field_in_milliseconds() -> None:
    assert frames.retry(2000) == b"retry: 2000\n\n"


def test_a_bookmark_carries_the_head_as_its_id_and_revision() -> None:
    assert frames.bookmark(42) == b'id: 42\nevent: bookmark\ndata: {"revision":42}\n\n'


def _entry(**changes: object) -> Entry:
    entry = Entry(
        id="vm-1",
        name="vm-1-name",
        role="worker",
        status="running",
        address="vm-1.vm.vers.sh",
        services=None,
        metadata=None,
        registered_by="orchestrator",
        registered_at=T0,
        last_seen=T0,
        revision=1,
        created_seq=1,
    )
    return entry.replace(**changes)


def test_an_event_frame_carries_the_event_and_the_entry_after_it() -> None:
    event = Event(3, "vm.stale", "vm-1", T0 + 5, {"system": "reaper"}, {})
    item = feed_item(event, _entry(revision=3, stale=True), "worker")
    assert item[FRAME] == (
        b"id: 3\nevent: vm.stale\ndata: "
        b'{"seq":3,"type":"vm.stale","vmId":"vm-1","at":"2026-11-18T11:06:40.005Z",'
        b'"actor":{"system":"reaper"},"data":{},'
        b'"vm":{"id":"vm-1","name":"vm-1-name","role":"worker","status":"running",'
        b'"address":"vm-1.vm.vers.sh","registeredBy":"orchestrator",'
        b'"registeredAt":"2026-11-18T11:06:40.000Z","lastSeen":"2026-11-18T11:06:40.000Z",'
        b'"revision":3,"stale":true}}\n\n'
    )


def test_after_deregistration_the_frame_carries_vm_null() -> None:
    event = Event(9, "vm.deregistered", "vm-1", T0, {"ip": "127.0.0.1"}, {})
    assert feed_item(event, None, "worker")[FRAME] == (
        b"id: 9\nevent: vm.deregistered\ndata: "
        b'{"seq":9,"type":"vm.deregistered","vmId":"vm-1","at":"2026-11-18T11:06:40.000Z",'
        b'"actor":{"ip":"127.0.0.1"},"data":{},"vm":null}\n\n'
    )
