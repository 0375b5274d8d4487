"""The watch's resume point and pacing, message by message (pure: no server needed)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from httpx_sse import ServerSentEvent

from vm_registry.client import Event, Gone, ProtocolError, Snapshot, Unauthorized
from vm_registry.client.watch import Cursor, WatchQuery


def event_message(seq: int, kind: str = "vm.heartbeat") -> ServerSentEvent:
    body = {
        "seq": seq,
        "type": kind,
        "vmId": "vm-1",
        "at": "2026-11-25T15:21:41.123Z",
        "actor": {},
        "data": {},
        "vm": None,
    }
    return ServerSentEvent(event=kind, data=orjson.dumps(body).decode(), id=str(seq))


def test_events_move_the_resume_point_and_repeats_are_dropped() -> None:
    cursor = Cursor(WatchQuery(), after=4)

    assert cursor.accept(event_message(4)) is None
    item = cursor.accept(event_message(5))
    assert isinstance(item, Event) and item.seq == 5
    assert cursor.position == 5
    assert cursor.request_headers()["Last-Event-ID"] == "5"


def test_bookmarks_move_the_resume_point_without_an_item() -> None:
    cursor = Cursor(WatchQuery(role="lieutenant"), after=5)

    assert cursor.accept(ServerSentEvent("bookmark", '{"revision": 40}', "40")) is None
    assert cursor.position == 40
    assert cursor.accept(ServerSentEvent("bookmark", '{"revision": 30}', "30")) is None
    assert cursor.position == 40


def test_keepalives_and_retry_hints_are_not_items() -> None:
    cursor = Cursor(WatchQuery())

    assert cursor.accept(ServerSentEvent(retry=1500)) is None
    assert cursor.hint == 1.5
    # An SSE parser dispatches an empty message after a keepalive once an id was seen.
    assert cursor.accept(ServerSentEvent(id="7")) is None
    assert cursor.position is None


def test_a_snapshot_sets_the_resume_point() -> None:
    cursor = Cursor(WatchQuery(snapshot=True))
    assert cursor.query.params(None)["snapshot"] == "true"

    item = cursor.accept(ServerSentEvent("snapshot", '{"revision": 9, "vms": []}', "9"))

    assert item == Snapshot(9, ())
    assert cursor.position == 9
    assert "snapshot" not in cursor.query.params(cursor.position)


def test_the_stream_head_is_the_resume_point_before_any_event() -> None:
    cursor = Cursor(WatchQuery())
    cursor.opened(httpx.Response(200, headers={"X-Registry-Revision": "12"}))
    assert cursor.position == 12

    snapshotting = Cursor(WatchQuery(snapshot=True))
    snapshotting.opened(httpx.Response(200, headers={"X-Registry-Revision": "12"}))
    assert snapshotting.position is None  # waits for the snapshot itself


def test_backoff_is_exponential_jittered_capped_and_follows_the_hint() -> None:
    cursor = Cursor(WatchQuery(), max_delay=4.0)
    assert cursor.delay() == 0.0

    cursor.hint = 1.0
    ceilings = []
    for _ in range(6):
        cursor.failed("test")
        delays = [cursor.delay() for _ in range(50)]
        ceilings.append(max(delays))
        assert all(d >= min(4.0, 2 ** (cursor.failures - 1)) / 2 for d in delays)
    assert ceilings[0] <= 1.0 < ceilings[1] <= 2.0 < ceilings[2] <= 4.0
    assert max(ceilings) <= 4.0

    cursor.opened(httpx.Response(200))
    assert cursor.failures == 0


def gone() -> httpx.Response:
    return httpx.Response(410, json={"error": "history before seq 100 was compacted"})


def test_gone_raises_a_clear_error_without_a_snapshot() -> None:
    cursor = Cursor(WatchQuery(), after=3)

    with pytest.raises(Gone) as caught:
        cursor.refused(gone())
    assert "compacted" in caught.value.message
    assert "snapshot=True" in caught.value.message


def test_gone_with_snapshot_starts_again_from_a_snapshot() -> None:
    cursor = Cursor(WatchQuery(snapshot=True), after=3)

    cursor.refused(gone())

    assert cursor.position is None
    assert cursor.query.params(cursor.position)["snapshot"] == "true"
    assert cursor.delay() == 0.0


def test_server_trouble_is_retried_and_refusals_are_raised() -> None:
    cursor = Cursor(WatchQuery())
    cursor.refused(httpx.Response(503, json={"error": "too many subscribers"}))
    cursor.refused(httpx.Response(502, text="Bad Gateway"))
    assert cursor.failures == 2

    with pytest.raises(Unauthorized):
        cursor.refused(httpx.Response(401, json={"error": "missing bearer token"}))


def test_unknown_message_kinds_are_skipped_and_garbage_is_a_protocol_error() -> None:
    cursor = Cursor(WatchQuery())
    assert cursor.accept(ServerSentEvent("notice", '{"hello": 1}', "3")) is None

    with pytest.raises(ProtocolError):
        cursor.accept(ServerSentEvent("vm.updated", "{not json", "4"))
