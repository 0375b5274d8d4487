"""Startup from snapshots: a restarted server shows exactly what it showed before, and a
snapshot that does not verify is skipped with a warning, never trusted. Both run on the suite's
backend: the log is written, and its snapshots spoiled, in the file or database the server
then starts on."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

import httpx

from tests.audit.logs import cell, events_of, fleet_story, state_at, tamper, write_sync
from tests.conftest import vm
from tests.support import backend
from tests.support.server import ServerProcess
from vm_registry.domain import snapshot


def view(url: str) -> dict[str, Any]:
    """Everything a client can see of the registry's current state."""
    with httpx.Client(base_url=url, timeout=10) as http:
        listed = http.get("/registry/vms")
        vms = listed.json()["vms"]
        return {
            "revision": listed.headers["X-Registry-Revision"],
            "vms": vms,
            "by role": {
                role: http.get("/registry/vms", params={"role": role}).json()["vms"]
                for role in ("worker", "infra", "golden")
            },
            "running": http.get("/registry/vms", params={"status": "running"}).json()["vms"],
            "each": [http.get(f"/registry/vms/{v['id']}").json() for v in vms],
        }


def churn(url: str, rounds: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for n in range(rounds):
            for vm_id, role in ((f"w{n}", "worker"), (f"i{n}", "infra")):
                assert http.post("/registry/vms", json=vm(vm_id, role=role)).status_code == 201
            http.post("/registry/vms/w0/heartbeat")
            http.patch(f"/registry/vms/i{n}", json={"metadata": {"round": n}})
        # Re-registration moves a VM to the front of "newest first".
        assert http.delete("/registry/vms/w0").status_code == 200
        assert http.post("/registry/vms", json=vm("w0", role="golden")).status_code == 201
        http.patch("/registry/vms/w1", json={"status": "stopped"})


def test_state_after_a_restart_equals_state_before(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    first = ServerProcess(db, args=["--snapshot-every", "5"]).start()
    try:
        churn(first.url, rounds=6)
        before_crash = view(first.url)
    finally:
        first.kill()  # kill -9: no final snapshot, so a periodic one plus the tail
    second = ServerProcess(db, args=["--snapshot-every", "5"]).start()
    try:
        assert view(second.url) == before_crash
        with httpx.Client(base_url=second.url, timeout=10) as http:
            http.delete("/registry/vms/i2")
            http.post("/registry/vms", json=vm("i2", role="infra", name="again"))
        before_stop = view(second.url)
        assert second.stop() == 0  # SIGTERM: a final snapshot at the head
    finally:
        second.kill()
    third = ServerProcess(db, args=["--snapshot-every", "5"]).start()
    try:
        assert view(third.url) == before_stop
    finally:
        third.kill()
    newest = cell(backend.target(db), "SELECT MAX(seq) FROM snapshots")
    assert str(newest) == before_stop["revision"]


def spoil_snapshots(db: str, log: list[Any]) -> None:
    """Spoil the three newest snapshots (30, 25, 20) three ways; 10 stays good."""
    body = cell(db, "SELECT body FROM snapshots WHERE seq = 30")
    flipped = body[:-1] + bytes([body[-1] ^ 1])
    tamper(db, "UPDATE snapshots SET body = ? WHERE seq = 30", (flipped,))
    tamper(db, "UPDATE snapshots SET chain = ? WHERE seq = 25", (bytes(32),))
    lie = snapshot.encode(state_at(log, 0))  # an empty registry, claiming revision 0 at seq 20
    digest = hashlib.sha256(lie).digest()
    tamper(
        db,
        "UPDATE snapshots SET body = ?, digest = ? WHERE seq = 20",
        (zlib.compress(lie), digest),
    )


def test_a_corrupt_snapshot_is_ignored_with_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    log = events_of(fleet_story())
    write_sync(backend.target(db), log, snapshots_at=(10, 20, 25, 30))
    spoil_snapshots(backend.target(db), log)
    server = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            listed = http.get("/registry/vms")
            # As recorded at the head: right after a start, the grace hides stale marks from
            # the live view, while `?at=` shows what the log holds.
            c = http.get("/registry/vms/vm-c", params={"at": 36}).json()
            a_then = http.get("/registry/vms/vm-a", params={"at": 19}).json()
    finally:
        server.kill()
    assert listed.headers["X-Registry-Revision"] == "36"
    assert [v["id"] for v in listed.json()["vms"]] == ["vm-b", "vm-d", "vm-c", "vm-a"]
    assert [v["role"] for v in listed.json()["vms"]] == ["golden", "lieutenant", "worker", "worker"]
    assert (c["stale"], c["metadata"]) == (True, {"zone": "fra-1", "gpu": True})
    assert a_then["status"] == "paused"
    warnings = [line for line in server.output().splitlines() if "ignoring snapshot" in line]
    assert len(warnings) == 3
    assert "WARNING" in warnings[0]
    for seq in (30, 25, 20):
        assert any(f"seq {seq}" in line for line in warnings), warnings
