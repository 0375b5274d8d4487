"""`GET /registry/events` and `GET /registry/vms/{id}/history`: the log, as auditors read it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.conftest import BURST, Fleet


def page(fleet: Fleet, **params: Any) -> dict[str, Any]:
    answer = fleet.http.get("/registry/events", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["count"] == len(body["events"])
    return body


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


def test_the_log_is_every_event_in_seq_order_with_its_fields(fleet: Fleet) -> None:
    assert seqs(fleet.events) == list(range(1, fleet.head + 1))
    first = fleet.events[0]
    assert set(first) == {"seq", "type", "vmId", "at", "actor", "data"}
    assert (first["type"], first["vmId"]) == ("vm.registered", "vm-a")
    assert first["data"]["role"] == "worker"
    assert first["actor"]["userAgent"].startswith("python-httpx")
    assert first["at"].endswith("Z")
    heartbeat = fleet.events[3]
    assert (heartbeat["type"], heartbeat["data"]) == ("vm.heartbeat", {})


def test_a_page_holds_100_events_by_default_and_next_resumes_after_it(fleet: Fleet) -> None:
    assert fleet.head > 100 + 10
    first = page(fleet)
    assert seqs(first["events"]) == list(range(1, 101))
    assert first["next"] == 100
    second = page(fleet, after=first["next"])
    assert seqs(second["events"]) == list(range(101, fleet.head + 1))


def test_following_next_with_a_small_limit_visits_every_event_once(fleet: Fleet) -> None:
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        body = page(fleet, after=after, limit=13)
        assert body["count"] <= 13
        if not body["events"]:
            assert "next" not in body
            break
        seen += body["events"]
        after = body["next"]
    assert seen == fleet.events


def test_a_limit_of_1000_is_allowed(fleet: Fleet) -> None:
    assert page(fleet, limit=1000)["events"] == fleet.events


def test_after_the_head_the_page_is_empty(fleet: Fleet) -> None:
    body = page(fleet, after=fleet.head)
    assert body == {"events": [], "count": 0}


def test_filtering_by_vm(fleet: Fleet) -> None:
    body = page(fleet, vm="vm-c", limit=1000)
    assert body["events"] == [e for e in fleet.events if e["vmId"] == "vm-c"]
    assert [e["type"] for e in body["events"]] == ["vm.registered", "vm.updated"]


def test_filtering_by_an_unknown_vm_finds_nothing(fleet: Fleet) -> None:
    assert page(fleet, vm="no-such-vm")["events"] == []


def test_filtering_by_one_type(fleet: Fleet) -> None:
    body = page(fleet, type="vm.deregistered")
    assert [(e["vmId"], e["type"]) for e in body["events"]] == [
        ("vm-b", "vm.deregistered"),
        ("vm-e", "vm.deregistered"),
    ]


def test_filtering_by_a_comma_separated_list_of_types(fleet: Fleet) -> None:
    body = page(fleet, type="vm.registered, vm.updated", limit=1000)
    wanted = {"vm.registered", "vm.updated"}
    assert body["events"] == [e for e in fleet.events if e["type"] in wanted]
    assert len(body["events"]) == 8


def test_filtering_by_time_is_inclusive_at_both_ends(fleet: Fleet) -> None:
    since = fleet.events[120]["at"]
    until = fleet.events[-3]["at"]
    body = page(fleet, since=since, until=until, limit=1000)
    assert body["events"] == [e for e in fleet.events if since <= e["at"] <= until]
    assert body["events"][0]["at"] == since
    assert body["events"][-1]["at"] == until


def test_filters_combine_and_page_together(fleet: Fleet) -> None:
    everything = [e for e in fleet.events if e["vmId"] == "vm-a" and e["type"] == "vm.heartbeat"]
    assert len(everything) == BURST
    first = page(fleet, vm="vm-a", type="vm.heartbeat", limit=50)
    rest = page(fleet, vm="vm-a", type="vm.heartbeat", after=first["next"], limit=1000)
    assert first["events"] + rest["events"] == everything


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "ten"),
        ("limit", "-5"),
        ("after", "-1"),
        ("after", "1.5"),
        ("type", "vm.exploded"),
        ("type", "vm.registered,nonsense"),
        ("type", ","),
        ("since", "yesterday"),
        ("until", "2026-13-45T00:00:00Z"),
        ("vm", ""),
        ("vm", "a/b"),
    ],
)
def test_a_bad_query_value_is_a_400_with_a_json_error(fleet: Fleet, name: str, value: str) -> None:
    answer = fleet.http.get("/registry/events", params={name: value})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert name in answer.json()["error"]


def test_history_spans_deregistration_and_re_registration(fleet: Fleet) -> None:
    answer = fleet.http.get("/registry/vms/vm-b/history")
    assert answer.status_code == 200
    events = answer.json()["events"]
    assert events == [e for e in fleet.events if e["vmId"] == "vm-b"]
    assert [e["type"] for e in events] == [
        "vm.registered",
        "vm.heartbeat",
        "vm.deregistered",
        "vm.registered",
        "vm.heartbeat",
    ]
    assert (events[0]["data"]["role"], events[3]["data"]["role"]) == ("infra", "golden")


def test_history_outlives_a_vm_that_is_gone(fleet: Fleet) -> None:
    assert fleet.http.get("/registry/vms/vm-e").status_code == 404
    answer = fleet.http.get("/registry/vms/vm-e/history")
    assert answer.status_code == 200
    assert [e["type"] for e in answer.json()["events"]] == ["vm.registered", "vm.deregistered"]


def test_history_of_an_id_never_registered_is_a_404(fleet: Fleet) -> None:
    answer = fleet.http.get("/registry/vms/never-was/history")
    assert answer.status_code == 404
    assert "never-was" in answer.json()["error"]
