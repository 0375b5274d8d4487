"""What the registry acknowledged survives a restart, and a kill -9."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import new_id
from tests.conftest import vm
from tests.support.server import ServerProcess


def snapshot(client: httpx.Client) -> tuple[Any, int]:
    return client.get("/registry/vms").json(), client.get("/health").json()["revision"]


def test_everything_survives_a_restart_by_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    first = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=first.url, timeout=10) as client:
            ids = [new_id() for _ in range(4)]
            for vm_id in ids:
                body = vm(vm_id, services=[{"name": "rpc", "port": 3001}], metadata={"n": 1})
                assert client.post("/registry/vms", json=body).status_code == 201
            client.patch(f"/registry/vms/{ids[0]}", json={"status": "paused", "name": "🚀"})
            client.post(f"/registry/vms/{ids[1]}/heartbeat")
            client.delete(f"/registry/vms/{ids[2]}")
            before = snapshot(client)
    finally:
        assert first.stop() == 0

    second = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=second.url, timeout=10) as client:
            assert snapshot(client) == before
            assert client.get(f"/registry/vms/{ids[2]}").status_code == 404
            assert client.post("/registry/vms", json=vm(ids[0])).status_code == 409
            again = client.post("/registry/vms", json=vm(ids[2])).json()
            assert again["revision"] == before[1] + 1
    finally:
        second.kill()


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    first = ServerProcess(db).start()
    acknowledged: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def register_until_the_server_dies(worker: int) -> None:
        with httpx.Client(base_url=first.url, timeout=10) as client:
            for n in range(10_000):
                vm_id = f"w{worker}-{n}"
                try:
                    response = client.post("/registry/vms", json=vm(vm_id))
                except httpx.HTTPError:
                    return
                assert response.status_code == 201
                with lock:
                    acknowledged[vm_id] = response.json()
                    if len(acknowledged) >= 150:
                        enough.set()

    writers = [threading.Thread(target=register_until_the_server_dies, args=(i,)) for i in range(6)]
    for thread in writers:
        thread.start()
    try:
        assert enough.wait(60)
    finally:
        first.kill()  # while the writers are still sending
        for thread in writers:
            thread.join(30)

    second = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=second.url, timeout=10) as client:
            stored = {e["id"]: e for e in client.get("/registry/vms").json()["vms"]}
            assert set(acknowledged) <= set(stored)
            for vm_id, entry in acknowledged.items():
                assert stored[vm_id] == entry
            revision = client.get("/health").json()["revision"]
            assert revision >= max(e["revision"] for e in acknowledged.values())
            assert revision == len(stored)  # registrations only: one event each, no gaps
    finally:
        second.kill()
