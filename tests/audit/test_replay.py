"""`vm-registry replay`: the registry as of any point, as a table or as JSON, offline.

The log is written in-process with one event a second from T0, so `--as-of` has exact answers.
Its story: vm-a, vm-b (infra) and vm-c register (seqs 1-3), fifteen heartbeats (4-18), vm-a is
paused (19), vm-b deregisters (20), vm-d registers (21), vm-b comes back as golden (22), twelve
heartbeats (23-34), vm-c is marked stale (35), vm-a runs again (36). It is written on the
suite's backend: a SQLite file, or a PostgreSQL database standing for it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.audit.logs import STEP_MS, T0, cli, events_of, fleet_story, write_sync
from tests.support import backend
from vm_registry.domain.timestamps import to_iso
from vm_registry.wire import render

LOG = events_of(fleet_story())


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The `--db` of the replayed registry."""
    target = backend.target(tmp_path_factory.mktemp("replay") / "registry.db")
    write_sync(target, LOG, snapshots_at=(10, 30))
    return target


def replay_json(db: str, *args: str) -> Any:
    result = cli("replay", "--db", db, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when piped
    return orjson.loads(result.stdout)


def test_json_is_the_default_when_piped_and_lists_newest_registration_first(db: str) -> None:
    body = replay_json(db)
    assert body["revision"] == 36
    assert [v["id"] for v in body["vms"]] == ["vm-b", "vm-d", "vm-c", "vm-a"]
    b = body["vms"][0]
    assert b == {
        "id": "vm-b",
        "name": "vm-b-name",
        "role": "golden",
        "status": "running",
        "address": "vm-b.vm.vers.sh",
        "registeredBy": "orchestrator",
        "registeredAt": to_iso(T0 + 21 * STEP_MS),
        "lastSeen": to_iso(T0 + 31 * STEP_MS),
        "revision": 32,
        "stale": False,
    }
    c = body["vms"][2]
    assert (c["stale"], c["metadata"]) == (True, {"zone": "fra-1", "gpu": True})


def test_the_table_has_a_row_per_vm_and_names_the_revision(db: str) -> None:
    result = cli("replay", "--db", db, "--format", "table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "STATUS", "ADDRESS", "LAST", "SEEN"]
    rows = [line.split() for line in lines[1:-1]]
    assert [row[:3] for row in rows] == [
        ["vm-b", "vm-b-name", "golden"],
        ["vm-d", "vm-d-name", "lieutenant"],
        ["vm-c", "vm-c-name", "worker"],
        ["vm-a", "vm-a-name", "worker"],
    ]
    assert rows[2][3:5] == ["running", "(stale)"]
    assert lines[-1] == "4 VMs as of seq 36"


def test_until_shows_the_state_after_that_seq(db: str) -> None:
    body = replay_json(db, "--until", "19", "--format", "json")
    assert body["revision"] == 19
    assert [(v["id"], v["role"], v["status"]) for v in body["vms"]] == [
        ("vm-c", "worker", "running"),
        ("vm-b", "infra", "running"),
        ("vm-a", "worker", "paused"),
    ]


def test_as_of_a_time_shows_the_last_event_at_or_before_it(db: str) -> None:
    between = to_iso(T0 + 21 * STEP_MS + 500)  # just after seq 22, vm-b's comeback
    body = replay_json(db, "--as-of", between)
    assert body["revision"] == 22
    assert [v["id"] for v in body["vms"]] == ["vm-b", "vm-d", "vm-c", "vm-a"]
    exact = replay_json(db, "--as-of", to_iso(T0 + 19 * STEP_MS))  # the moment of seq 20
    assert exact["revision"] == 20
    assert "vm-b" not in [v["id"] for v in exact["vms"]]
    before = replay_json(db, "--as-of", "2020-01-01T00:00:00Z")
    assert before == {"revision": 0, "vms": []}


def test_vm_prints_its_whole_history_across_re_registration(db: str) -> None:
    body = replay_json(db, "--vm", "vm-b")
    types = [e["type"] for e in body["events"]]
    assert (
        types
        == ["vm.registered"]
        + ["vm.heartbeat"] * 5
        + [
            "vm.deregistered",
            "vm.registered",
        ]
        + ["vm.heartbeat"] * 4
    )
    assert body["count"] == len(types)
    assert body["events"][0] == render.event(LOG[1])


def test_vm_with_until_stops_there(db: str) -> None:
    body = replay_json(db, "--vm", "vm-b", "--until", "20")
    assert [e["seq"] for e in body["events"]] == [2, 5, 8, 11, 14, 17, 20]


def test_vm_history_as_a_table(db: str) -> None:
    result = cli("replay", "--db", db, "--vm", "vm-c", "--format", "table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SEQ", "AT", "TYPE", "ACTOR", "DATA"]
    assert lines[1].split()[:3] == ["3", to_iso(T0 + 2 * STEP_MS), "vm.registered"]
    assert lines[-1].split()[:3] == ["35", to_iso(T0 + 34 * STEP_MS), "vm.stale"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "37"], "beyond the head"),
        (["--as-of", "not-a-time"], "not an ISO 8601 time"),
        (["--vm", "never-was"], "never-was"),
    ],
)
def test_a_point_or_vm_that_is_not_there_is_an_error(
    db: str, args: list[str], message: str
) -> None:
    result = cli("replay", "--db", db, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
