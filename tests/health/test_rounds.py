"""Rounds whatever the fleet and its entries: a real registry, real services on loopback.

A round used to go to the probe process as one JSON line, read with a 64 KiB line limit: one
VM with a 970-character address and 64 services, or 900 honest VMs with two services each,
stopped every probe of the fleet while `/health` said "ok" (issue #25).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.health.scrape import metric
from tests.health.services import Services, running_services
from tests.support import polling
from tests.support.server import ServerProcess

DEADLINE = 120.0
LOOPBACK = ["--health-check-allow", "127.0.0.1", "--health-check-allow", "::1"]
LONG_ADDRESS = ".".join(["a" * 60] * 16)[:970]  # within the 1,024-character cap, not a host name


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


def serve(db: Path, *args: str) -> ServerProcess:
    return ServerProcess(db, args=["--health-checks", *LOOPBACK, *args]).start()


def register(http: httpx.Client, vm_id: str, address: str, services: list[dict[str, Any]]) -> None:
    body = {
        "id": vm_id,
        "name": vm_id,
        "role": "worker",
        "address": address,
        "registeredBy": "test",
        "services": services,
    }
    response = http.post("/registry/vms", json=body)
    assert response.status_code == 201, response.text


def checked(name: str, services: Services, path: str) -> dict[str, Any]:
    return {"name": name, "port": services.port, "healthPath": path}


def eventually(check: Callable[[], Any], what: str) -> Any:
    return polling.eventually(check, DEADLINE, what)


def test_a_long_entry_and_a_large_fleet_are_all_probed(tmp_path: Path, services: Services) -> None:
    server = serve(tmp_path / "registry.db", "--health-check-allow", "localhost",
                   "--check-interval", "2", "--check-timeout", "5")  # fmt: skip
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            long_services = [checked(f"s{i}", services, f"/ok/long/{i}") for i in range(64)]
            register(http, "vm-long", LONG_ADDRESS, long_services)
            fleet = [f"vm-{n:03}" for n in range(900)]
            for n, vm_id in enumerate(fleet):
                two = [checked(name, services, f"/ok/{n}/{name}") for name in ("api", "rpc")]
                register(http, vm_id, "localhost", two)

            def all_probed() -> bool:
                vms = {v["id"]: v for v in http.get("/registry/vms").json()["vms"]}
                fleet_done = all(len(vms[i].get("health", {})) == 2 for i in fleet)
                return fleet_done and len(vms["vm-long"].get("health", {})) == 64

            eventually(all_probed, "every VM of the fleet probed")
            long_vm = http.get("/registry/vms/vm-long").json()
            assert set(long_vm["health"].values()) == {"critical"}  # not a host name: refused
            health = http.get("/health").json()
            assert health["status"] == "ok"
            assert "healthChecks" not in health
            assert metric(http, "vm_registry_health_rounds_failing") == 0
            assert metric(http, "vm_registry_health_round_failures_total") == 0
    finally:
        server.kill()


def test_one_url_named_by_many_services_is_probed_once_a_round(
    tmp_path: Path, services: Services
) -> None:
    server = serve(tmp_path / "registry.db", "--check-interval", "0.2", "--check-timeout", "2")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            same = [checked(f"s{i}", services, "/ok-same") for i in range(64)]
            register(http, "vm-same", "127.0.0.1", same)
            register(http, "vm-other", "127.0.0.1", [checked("one", services, "/ok-same")])
            register(http, "vm-count", "127.0.0.1", [checked("c", services, "/ok-rounds")])
            eventually(lambda: services.hits["/ok-rounds"] >= 2, "a round")
            rounds, same_hits = services.hits["/ok-rounds"], services.hits["/ok-same"]
            eventually(lambda: services.hits["/ok-rounds"] >= rounds + 5, "five more rounds")
            rounds_seen = services.hits["/ok-rounds"] - rounds
            # One request per round for all 65 services (give or take a round in flight).
            assert services.hits["/ok-same"] - same_hits <= rounds_seen + 1
            health = http.get("/registry/vms/vm-same").json()["health"]
            assert health == {f"s{i}": "passing" for i in range(64)}  # fanned out to each
            assert http.get("/registry/vms/vm-other").json()["health"] == {"one": "passing"}
    finally:
        server.kill()


def _probe_worker(server: ServerProcess) -> int | None:
    assert server.proc is not None
    pid = server.proc.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"vm_registry.service.probe_worker" in command:
            return int(child)
    return None


def test_a_prober_that_cannot_finish_its_rounds_shows_in_health_and_metrics(
    tmp_path: Path, services: Services
) -> None:
    # Probes of /hang-kill wait for the timeout: a round is in flight for 5 s at a time.
    server = serve(tmp_path / "registry.db", "--check-interval", "0.5", "--check-timeout", "5")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/health").json()["status"] == "ok"
            register(http, "vm-hang", "127.0.0.1", [checked("h", services, "/hang-kill")])
            before = services.hits["/hang-kill"]
            eventually(lambda: services.hits["/hang-kill"] > before, "a probe in flight")
            worker = eventually(lambda: _probe_worker(server), "the probe process")
            os.kill(worker, signal.SIGKILL)

            def degraded() -> dict[str, Any] | None:
                body: dict[str, Any] = http.get("/health").json()
                return body if body["status"] == "degraded" else None

            body = eventually(degraded, "/health saying the prober failed")
            assert body["healthChecks"]["failingRounds"] >= 1
            assert "probe process ended" in body["healthChecks"]["problem"]
            assert metric(http, "vm_registry_health_round_failures_total") >= 1
            # A new probe process takes over: the next round that completes clears it.
            eventually(lambda: http.get("/health").json()["status"] == "ok", "recovery")
            assert metric(http, "vm_registry_health_rounds_failing") == 0
            assert metric(http, "vm_registry_health_round_failures_total") >= 1
    finally:
        server.kill()
