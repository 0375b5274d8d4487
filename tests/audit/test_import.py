"""`vm-registry import --agent-services FILE`, run as a user runs it, on the suite's backend:
the file agent-services saves (`{"vms": [...]}`, its entries as its store writes them) becomes
an empty log whose entries keep their ids, fields, `registeredAt` and `lastSeen`, recorded as
imported; what cannot be taken is listed entry by entry; `verify` passes; and a server on the
imported log answers with those entries over HTTP."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audit.logs import cli
from tests.support import backend
from tests.support.server import ServerProcess
from vm_registry.domain.timestamps import to_iso

IMPORTED = {"system": "import", "from": "agent-services"}
HOUR = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def seed_entry(role: str, registered: int, seen: int, **fields: Any) -> dict[str, Any]:
    """An entry as agent-services' store saves it: `services` and `metadata` only when set."""
    vm_id = str(uuid.uuid4())
    return {
        "id": vm_id,
        "name": f"{role}-{vm_id[:4]}",
        "role": role,
        "status": "running",
        "address": f"{vm_id}.vm.vers.sh",
        **fields,
        "registeredBy": "orchestrator",
        "registeredAt": to_iso(registered),
        "lastSeen": to_iso(seen),
    }


def write_seed(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"vms": entries}, indent=2))  # as JSON.stringify(_, null, 2)
    return path


def fleet(now: int) -> list[dict[str, Any]]:
    """Registrations and last heartbeats that interleave in time, so the log's order is the
    fleet's timeline and not the file's."""
    infra_services = [{"name": "board", "port": 3000, "healthPath": "/health"}]
    return [
        seed_entry("infra", now - 30 * HOUR, now - 60_000, services=infra_services),
        seed_entry(
            "lieutenant",
            now - 20 * HOUR,
            now - 20 * HOUR,
            services=[{"name": "pi-rpc", "port": 3001}],
            metadata={"task": "process invoices"},
        ),
        seed_entry("worker", now - 25 * HOUR, now - 2 * HOUR, status="paused"),
        seed_entry("golden", now - 10 * HOUR, now - 5 * HOUR, status="stopped"),
    ]


def imports(source: Path, db: Path, *extra: str) -> Any:
    return cli("import", "--agent-services", str(source), "--db", backend.target(db), *extra)


def test_a_seed_file_becomes_a_log_that_keeps_every_entry(tmp_path: Path) -> None:
    now = now_ms()
    entries = fleet(now)
    source = write_seed(tmp_path / "registry.json", entries)
    db = tmp_path / "registry.db"

    done = imports(source, db)
    assert done.returncode == 0, done.stderr
    assert "read 4 VMs from" in done.stdout
    assert "imported 4 VMs into" in done.stdout
    assert "not imported" not in done.stdout
    checked = cli("verify", "--db", backend.target(db))
    assert checked.returncode == 0, checked.stderr
    assert "ok: 7 events" in checked.stdout  # 4 registrations, 3 later heartbeats

    server = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            listed = http.get("/registry/vms").json()
            assert listed["count"] == 4
            by_id = {vm["id"]: vm for vm in listed["vms"]}
            for entry in entries:
                served = by_id[entry["id"]]
                assert {key: served.get(key) for key in entry} == entry
            # Newest registeredAt first, as ever.
            order = sorted(entries, key=lambda e: e["registeredAt"], reverse=True)
            assert [vm["id"] for vm in listed["vms"]] == [e["id"] for e in order]
            infra = entries[0]["id"]
            assert [vm["id"] for vm in http.get("/registry/discover/infra").json()["vms"]] == [
                infra
            ]
            history = http.get(f"/registry/vms/{infra}/history").json()["events"]
            assert [e["type"] for e in history] == ["vm.registered", "vm.heartbeat"]
            assert all(e["actor"] == IMPORTED for e in history)
            # The log's times never go back, across VMs.
            events = http.get("/registry/events", params={"limit": 100}).json()["events"]
            times = [e["at"] for e in events]
            assert times == sorted(times)
            # Time travel: ten hours ago, the golden VM had not been registered.
            then = to_iso(now - 10 * HOUR - 1)
            past = http.get("/registry/vms", params={"asOf": then}).json()["vms"]
            assert {vm["id"] for vm in past} == {e["id"] for e in entries[:3]}
            # The imported entries are live ones: they take heartbeats and refuse a second
            # registration of their id.
            assert http.post(f"/registry/vms/{infra}/heartbeat").status_code == 200
            again = {k: v for k, v in entries[1].items() if k not in ("registeredAt", "lastSeen")}
            assert http.post("/registry/vms", json=again).status_code == 409
    finally:
        server.stop()


def test_what_cannot_be_taken_is_listed_with_why_and_the_rest_is_imported(
    tmp_path: Path,
) -> None:
    now = now_ms()
    good = seed_entry("worker", now - HOUR, now - 60_000)
    bad_port = seed_entry("lieutenant", now - HOUR, now, services=[{"name": "rpc", "port": "3001"}])
    bad_role = seed_entry("boss", now - HOUR, now)
    no_seen = seed_entry("worker", now - HOUR, now)
    del no_seen["lastSeen"]
    backwards = seed_entry("worker", now - HOUR, now - 2 * HOUR)
    ahead = seed_entry("worker", now + 48 * HOUR, now + 48 * HOUR)
    twin = dict(good, name="a second entry with the same id")
    source = write_seed(
        tmp_path / "registry.json",
        [good, bad_port, bad_role, no_seen, backwards, ahead, twin, "not an entry"],  # type: ignore[list-item]
    )
    db = tmp_path / "registry.db"

    done = imports(source, db)
    assert done.returncode == 1, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if "not imported:" in line]
    assert len(lines) == 7, done.stdout
    assert lines == [
        f"not imported: entry 2 (id '{bad_port['id']}'): services[0].port must be an integer",
        f"not imported: entry 3 (id '{bad_role['id']}'): role must be one of infra, "
        "lieutenant, worker, golden, custom",
        f"not imported: entry 4 (id '{no_seen['id']}'): lastSeen missing: not an entry "
        "agent-services saved",
        f"not imported: entry 5 (id '{backwards['id']}'): lastSeen {backwards['lastSeen']} is "
        f"before registeredAt {backwards['registeredAt']}",
        f"not imported: entry 6 (id '{ahead['id']}'): registeredAt "
        f"'{ahead['registeredAt']}' is in the future (this machine's clock says "
        + lines[4].split("clock says ")[-1],
        f"not imported: entry 7 (id '{good['id']}'): the id is already entry 1's",
        "not imported: entry 8: an entry must be a JSON object",
    ]
    assert "imported 1 VMs into" in done.stdout
    assert "7 of 8 VMs were not imported" in done.stderr
    assert cli("verify", "--db", backend.target(db)).returncode == 0
    replayed = json.loads(cli("replay", "--db", backend.target(db), "--format", "json").stdout)
    assert [vm["id"] for vm in replayed["vms"]] == [good["id"]]


def test_a_log_that_is_not_empty_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    now = now_ms()
    source = write_seed(tmp_path / "registry.json", fleet(now))
    db = tmp_path / "registry.db"
    assert imports(source, db).returncode == 0
    before = cli("verify", "--db", backend.target(db)).stdout

    again = imports(source, db)
    assert again.returncode == 2
    assert "already holds a log (head 7)" in again.stderr
    assert "never merging" in again.stderr
    assert "imported" not in again.stdout
    assert cli("verify", "--db", backend.target(db)).stdout == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON"),
        (b'{"entries": []}', 'expected {"vms": [...]}'),
        (b"[]", 'expected {"vms": [...]}'),
    ],
)
def test_a_file_that_is_not_a_registry_is_refused_whole(
    tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "registry.json"
    source.write_bytes(content)
    db = tmp_path / "registry.db"
    done = imports(source, db)
    assert done.returncode == 2
    assert message in done.stderr
    if not backend.ON_POSTGRES:
        assert not db.exists()


def test_a_dry_run_says_what_it_would_import_and_writes_nothing(tmp_path: Path) -> None:
    now = now_ms()
    source = write_seed(tmp_path / "registry.json", [*fleet(now), {"id": "half"}])
    db = tmp_path / "registry.db"
    done = imports(source, db, "--dry-run")
    assert done.returncode == 1
    assert "would import 4 VMs into" in done.stdout
    assert "not imported: entry 5 (id 'half'): registeredAt and lastSeen missing" in done.stdout
    if not backend.ON_POSTGRES:
        assert not db.exists()
    assert imports(source, db).returncode == 1  # the dry run left the log empty
