"""`serve --workers N`: N replicas behind one port on one SQLite file, started and stopped as
one service."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import vm
from tests.replicas.cluster import eventually
from tests.support.server import ServerProcess


def test_workers_share_one_port_and_one_log_and_stop_together(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "registry.db",
        args=["--workers", "2", "--self-id", "registry", "--reap-interval", "0.25"],
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:

            def both_registered() -> bool:
                infra = http.get("/registry/vms", params={"role": "infra"}).json()["vms"]
                return {"registry-w0", "registry-w1"} <= {e["id"] for e in infra}

            eventually(both_registered, what="each worker registered under its own id")
            # Connections land on either worker; every write is decided once, in one order.
            newest = 0
            for n in range(20):
                # A connection of its own each: the kernel may hand it to either worker.
                answer = httpx.post(f"{server.url}/registry/vms", json=vm(f"vm-{n % 5}"))
                assert answer.status_code in (201, 409), answer.text
                newest = max(newest, int(answer.headers.get("X-Registry-Revision", 0)))
            # Whichever worker answers, it has folded every write made through the other.
            read = {"minRevision": newest}
            vms = http.get("/registry/vms", params={"role": "worker", **read}).json()["vms"]
            assert sorted(e["id"] for e in vms) == [f"vm-{n}" for n in range(5)]
            events = http.get("/registry/events", params={"type": "vm.registered", **read})
            ids = [e["vmId"] for e in events.json()["events"] if e["vmId"].startswith("vm-")]
            assert sorted(ids) == [f"vm-{n}" for n in range(5)]
        assert server.stop() == 0
    finally:
        server.kill()
