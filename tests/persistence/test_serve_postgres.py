"""`vm-registry serve --db postgresql://...`: the same registry, its log in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.audit.logs import cli
from tests.support import postgres
from tests.support.server import ServerProcess

ENTRY = {
    "id": "vm-pg-1",
    "name": "billing",
    "role": "worker",
    "status": "running",
    "address": "vm-pg-1.vm.vers.sh",
    "registeredBy": "tests",
}


def serve(url: str, folder: Path) -> ServerProcess:
    # ServerProcess names its own --db (a file for its log path); the later --db wins.
    return ServerProcess(folder / "unused.db", args=["--db", url]).start()


@pytest.fixture
def url() -> Iterator[str]:
    with postgres.fresh_database("serve") as found:
        yield found


def test_a_server_on_postgresql_keeps_its_log_across_restarts(url: str, tmp_path: Path) -> None:
    server = serve(url, tmp_path)
    try:
        assert f"with database {url}" in server.output()
        created = httpx.post(f"{server.url}/registry/vms", json=ENTRY, timeout=10)
        assert created.status_code == 201, created.text
        beat = httpx.post(f"{server.url}/registry/vms/vm-pg-1/heartbeat", timeout=10)
        assert beat.status_code == 200, beat.text
        taken = httpx.post(f"{server.url}/registry/vms", json=ENTRY, timeout=10)
        assert taken.status_code == 409
    finally:
        assert server.stop() == 0
    again = serve(url, tmp_path)
    try:
        entry = httpx.get(f"{again.url}/registry/vms/vm-pg-1", timeout=10).json()
        assert (entry["name"], entry["revision"]) == ("billing", 2)
        events = httpx.get(f"{again.url}/registry/events", timeout=10).json()["events"]
        assert [e["seq"] for e in events] == [1, 2]
        assert httpx.get(f"{again.url}/health", timeout=10).status_code == 200
        # The audit commands read the live database while the server runs.
        checked = cli("verify", "--db", url)
        assert checked.returncode == 0, checked.stderr
        assert "ok: 2 events" in checked.stdout
    finally:
        again.stop()
