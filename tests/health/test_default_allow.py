"""With no `--health-check-allow`, the registry probes the fleet domain only: a registrant
cannot make it probe the registry's own host (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.health.services import Services, running_services
from tests.support import polling
from tests.support.server import ServerProcess


@pytest.fixture
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


@pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1", "localhost"])
def test_loopback_is_not_probed_unless_listed(
    tmp_path: Path, services: Services, address: str
) -> None:
    args = ["--health-checks", "--check-interval", "0.2", "--check-timeout", "0.5"]
    server = ServerProcess(tmp_path / "registry.db", args=args).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            body = {
                "id": "vm-self",
                "name": "self",
                "role": "worker",
                "address": address,
                "registeredBy": "test",
                "services": [{"name": "svc", "port": services.port, "healthPath": "/ok"}],
            }
            assert http.post("/registry/vms", json=body).status_code == 201

            def health() -> object:
                return http.get("/registry/vms/vm-self").json().get("health")

            assert polling.eventually(health, 30.0, "a health status") == {"svc": "critical"}
            events = http.get("/registry/events", params={"type": "vm.health"}).json()["events"]
            assert events[0]["data"]["detail"].startswith("not probed: ")
    finally:
        server.kill()
    assert sum(services.hits.values()) == 0
