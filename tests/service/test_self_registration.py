"""The registry registers itself as the infra VM, as the seed asks of agent-services."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.polling import eventually
from tests.support.server import ServerProcess


def test_serve_with_vers_vm_id_registers_itself_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    server = ServerProcess(db, args=["--stale-after", "1.5"], env={"VERS_VM_ID": "infra-vm-1"})
    server.start()
    try:
        found = httpx.get(f"{server.url}/registry/discover/infra").json()
        assert found["count"] == 1
        me = found["vms"][0]
        assert me["id"] == "infra-vm-1"
        assert me["name"] == "infra"
        assert me["registeredBy"] == "self"
        assert me["address"] == "infra-vm-1.vm.vers.sh"
        assert me["services"] == [
            {"name": "registry", "port": server.port, "healthPath": "/health"}
        ]

        # It keeps itself fresh: well past the stale window it is still discoverable.
        time.sleep(2.5)
        still = httpx.get(f"{server.url}/registry/discover/infra").json()
        assert [vm["id"] for vm in still["vms"]] == ["infra-vm-1"]
        history = httpx.get(f"{server.url}/registry/vms/infra-vm-1/history").json()
        assert {e["type"] for e in history["events"]} >= {"vm.registered", "vm.heartbeat"}
        assert all(e["actor"] == {"system": "self-registration"} for e in history["events"])
    finally:
        assert server.stop() == 0

    # After SIGTERM the entry says stopped; a restart brings it back to running.
    again = ServerProcess(db, env={"VERS_VM_ID": "infra-vm-1"}, port=server.port)
    again.start()
    try:
        events = httpx.get(f"{again.url}/registry/vms/infra-vm-1/history").json()["events"]
        stops = [
            e for e in events if e["type"] == "vm.updated" and e["data"] == {"status": "stopped"}
        ]
        assert len(stops) == 1
        entry = httpx.get(f"{again.url}/registry/vms/infra-vm-1").json()
        assert entry["status"] == "running"
        assert entry["registeredAt"] == me["registeredAt"]  # updated, not registered anew
    finally:
        again.stop()


def test_a_deregistered_registry_registers_itself_again(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "registry.db", args=["--stale-after", "0.6"], env={"VERS_VM_ID": "infra-vm-2"}
    ).start()
    try:
        assert httpx.delete(f"{server.url}/registry/vms/infra-vm-2").status_code == 200
        eventually(lambda: httpx.get(f"{server.url}/registry/vms/infra-vm-2").status_code == 200)
    finally:
        server.kill()


def test_without_vers_vm_id_the_registry_does_not_register_itself(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/registry/vms").json()["count"] == 0
