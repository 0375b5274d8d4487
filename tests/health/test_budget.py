"""The per-VM budget of health changes, against real servers: a transition to critical never
waits behind first records, and the budget survives restarts (issue #25 items 7 and 8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.health.scrape import metric
from tests.health.services import Services, running_services
from tests.support import polling
from tests.support.server import ServerProcess

DEADLINE = 90.0


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


def serve(db: Path, *args: str) -> ServerProcess:
    common = ["--health-checks", "--health-check-allow", "127.0.0.1", "--check-timeout", "2"]
    return ServerProcess(db, args=[*common, *args]).start()


def register(http: httpx.Client, vm_id: str, services: Services, *paths: str) -> None:
    body = {
        "id": vm_id,
        "name": vm_id,
        "role": "golden",
        "address": "127.0.0.1",
        "registeredBy": "test",
        "services": [
            {"name": f"svc{i}", "port": services.port, "healthPath": path}
            for i, path in enumerate(paths)
        ],
    }
    response = http.post("/registry/vms", json=body)
    assert response.status_code == 201, response.text


def health_events(http: httpx.Client, vm_id: str) -> list[dict[str, Any]]:
    page = http.get("/registry/events", params={"vm": vm_id, "type": "vm.health", "limit": 1000})
    events: list[dict[str, Any]] = page.json()["events"]
    return events


def test_fifteen_first_passing_records_do_not_delay_critical(
    tmp_path: Path, services: Services
) -> None:
    server = serve(tmp_path / "registry.db", "--check-interval", "1", "--check-failures", "2")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            paths = [f"/ok-budget/{i}" for i in range(15)]
            register(http, "vm-mixed", services, *paths, "/fail-budget")

            def critical() -> bool:
                health = http.get("/registry/vms/vm-mixed").json().get("health", {})
                return health.get("svc15") == "critical"

            polling.eventually(critical, DEADLINE, "svc15 critical")
            discovered = http.get("/registry/discover/golden", params={"healthy": "true"}).json()
            assert discovered["vms"] == []
            events = health_events(http, "vm-mixed")
            assert len(events) == 16
            assert events[-1]["data"]["detail"] == "HTTP 500"  # never held back
            assert metric(http, "vm_registry_health_transitions_held_back_total") == 0
    finally:
        server.kill()


def test_a_flapping_vm_gets_no_fresh_budget_from_restarts(
    tmp_path: Path, services: Services
) -> None:
    """With --check-failures 1, /alternate changes status every round: the budget, 4 changes
    in any 10 intervals (20 s here), judged on the events' `at`, must hold across restarts."""
    db = tmp_path / "registry.db"
    args = ("--check-interval", "2", "--check-failures", "1")

    def run_until(events: int, stop_hard: bool) -> None:
        server = serve(db, *args)
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                if events == 4:
                    register(http, "vm-flap", services, "/alternate-restarts")
                polling.eventually(
                    lambda: len(health_events(http, "vm-flap")) >= events,
                    DEADLINE,
                    f"{events} vm.health events",
                )
        finally:
            if stop_hard:
                server.kill()
            else:
                server.stop()

    run_until(4, stop_hard=False)  # the first record, then three changes
    run_until(7, stop_hard=True)  # after a restart: one more at once, two when the window lets
    server = serve(db, *args)  # and another
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            polling.eventually(
                lambda: len(health_events(http, "vm-flap")) >= 8, DEADLINE, "8 vm.health events"
            )
            events = health_events(http, "vm-flap")
    finally:
        server.kill()
    changes = [at_ms(e) for e in events[1:]]  # the first record is not a change
    window = 10 * 2000
    for start in changes:
        inside = [at for at in changes if start <= at < start + window]
        assert len(inside) <= 4, (start, changes)


def at_ms(event: dict[str, Any]) -> int:
    moment = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)
