"""`?at=<seq>` and `?asOf=<time>` on `GET /registry/vms` and `GET /registry/vms/{id}`.

The oracle is the registry itself: after each step of the fleet's story the test recorded what
the list showed, and time travel must show exactly that again, with the filters applied.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.conftest import Fleet


def travel(fleet: Fleet, path: str, **params: Any) -> tuple[int, Any]:
    answer = fleet.http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Registry-Revision"]), answer.json()


def test_the_list_at_every_recorded_revision_is_what_it_was_then(fleet: Fleet) -> None:
    assert len(fleet.lists) > 10
    for revision, then in fleet.lists.items():
        assert travel(fleet, "/registry/vms", at=revision) == (
            revision,
            {"vms": then, "count": len(then)},
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [("role", "worker"), ("role", "golden"), ("status", "running"), ("status", "paused")],
)
def test_filters_still_apply_in_the_past(fleet: Fleet, name: str, value: str) -> None:
    for revision, then in fleet.lists.items():
        _, body = travel(fleet, "/registry/vms", at=revision, **{name: value})
        assert body["vms"] == [v for v in then if v[name] == value]


def test_a_single_vm_at_every_recorded_revision(fleet: Fleet) -> None:
    for revision, then in fleet.lists.items():
        present = {v["id"]: v for v in then}
        for vm_id in ("vm-a", "vm-b", "vm-c", "vm-d", "vm-e"):
            answer = fleet.http.get(f"/registry/vms/{vm_id}", params={"at": revision})
            if vm_id in present:
                assert answer.status_code == 200
                assert answer.headers["X-Registry-Revision"] == str(revision)
                assert answer.json() == present[vm_id]
            else:
                assert answer.status_code == 404
                assert vm_id in answer.json()["error"]


def test_a_re_registered_vm_shows_its_old_self_in_the_past(fleet: Fleet) -> None:
    story = [(e["seq"], e["type"]) for e in fleet.events if e["vmId"] == "vm-b"]
    (first, _), _, (gone, _), (second, _), _ = story
    _, old = travel(fleet, "/registry/vms/vm-b", at=gone - 1)
    _, new = travel(fleet, "/registry/vms/vm-b", at=second)
    assert (old["role"], old["name"]) == ("infra", "vm-b-name")
    assert (new["role"], new["name"]) == ("golden", "b-again")
    for absent in (first - 1, gone, second - 1):
        assert fleet.http.get("/registry/vms/vm-b", params={"at": absent}).status_code == 404


def test_as_of_a_time_shows_the_state_after_the_last_event_at_or_before_it(fleet: Fleet) -> None:
    for event in fleet.events[::7]:
        point = max(e["seq"] for e in fleet.events if e["at"] <= event["at"])
        if point not in fleet.lists:
            continue
        revision, body = travel(fleet, "/registry/vms", asOf=event["at"])
        assert revision == point
        assert body["vms"] == fleet.lists[point]


def test_as_of_works_on_a_single_vm_with_filters_on_the_list(fleet: Fleet) -> None:
    paused = next(e for e in fleet.events if e["type"] == "vm.updated")
    point = max(e["seq"] for e in fleet.events if e["at"] <= paused["at"])
    revision, body = travel(fleet, "/registry/vms/vm-c", asOf=paused["at"])
    assert (revision, body["status"]) == (point, "paused")
    _, listed = travel(fleet, "/registry/vms", asOf=paused["at"], status="paused")
    assert [v["id"] for v in listed["vms"]] == ["vm-c"]


def test_as_of_before_the_first_event_is_an_empty_registry(fleet: Fleet) -> None:
    assert travel(fleet, "/registry/vms", asOf="2001-01-01T00:00:00Z") == (
        0,
        {"vms": [], "count": 0},
    )


def test_at_the_head_is_the_live_registry(fleet: Fleet) -> None:
    assert travel(fleet, "/registry/vms", at=fleet.head) == travel(fleet, "/registry/vms")


@pytest.mark.parametrize("path", ["/registry/vms", "/registry/vms/vm-a"])
@pytest.mark.parametrize(
    "params",
    [
        {"at": "head+1"},
        {"at": "99999999"},
        {"asOf": "2999-01-01T00:00:00Z"},
        {"at": "abc"},
        {"at": "-1"},
        {"asOf": "not a time"},
        {"at": "3", "asOf": "2026-01-01T00:00:00Z"},
    ],
)
def test_a_point_beyond_the_head_or_malformed_is_a_400(
    fleet: Fleet, path: str, params: dict[str, str]
) -> None:
    if params.get("at") == "head+1":
        params = {"at": str(fleet.head + 1)}
    answer = fleet.http.get(path, params=params)
    assert answer.status_code == 400
    assert answer.json()["error"]
