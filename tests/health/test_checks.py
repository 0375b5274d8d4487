"""Health checks end to end: a real registry probing real services on loopback ports.

The registry probes every 0.2 s with a 0.5 s timeout, and a service is critical after two
consecutive failures. Tests wait for what they expect with a generous deadline, never for a
fixed time, and share one registry: each uses VM ids of its own.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.health.services import Services, running_services
from tests.support import backend, polling
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from vm_registry.client import RegistryClient

DEADLINE = 30.0


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


@pytest.fixture(scope="module")
def outsider() -> Iterator[Services]:
    """A service on 127.0.0.2, which the registry's allow-list does not admit."""
    with running_services("127.0.0.2") as running:
        yield running


server = server_fixture(
    "health",
    "--health-checks",
    "--health-check-allow", "127.0.0.1",
    "--check-interval", "0.2",
    "--check-timeout", "0.5",
    "--check-failures", "2",
)  # fmt: skip


registry = http_fixture()


def register(
    http: httpx.Client, services: Services, *paths: str | None, role: str = "worker"
) -> str:
    vm_id = f"vm-{uuid.uuid4().hex[:10]}"
    listed = []
    for index, path in enumerate(paths):
        service: dict[str, Any] = {"name": f"svc{index}", "port": services.port}
        if path is not None:
            service["healthPath"] = path
        listed.append(service)
    body = {
        "id": vm_id,
        "name": vm_id,
        "role": role,
        "address": services.host,
        "registeredBy": "test",
        "services": listed,
    }
    response = http.post("/registry/vms", json=body)
    assert response.status_code == 201, response.text
    return vm_id


def eventually(check: Callable[[], Any]) -> Any:
    return polling.eventually(check, DEADLINE, "the registry's state")


def health_of(http: httpx.Client, vm_id: str) -> dict[str, str] | None:
    body = http.get(f"/registry/vms/{vm_id}").json()
    found: dict[str, str] | None = body.get("health")
    return found


def health_events(http: httpx.Client, vm_id: str) -> list[dict[str, Any]]:
    events = http.get(f"/registry/vms/{vm_id}/history").json()["events"]
    return [e for e in events if e["type"] == "vm.health"]


def test_a_healthy_service_passes_with_one_event(
    registry: httpx.Client, services: Services
) -> None:
    vm_id = register(registry, services, "/ok", None)
    assert eventually(lambda: health_of(registry, vm_id)) == {"svc0": "passing"}
    before = services.hits["/ok"]
    eventually(lambda: services.hits["/ok"] >= before + 3)  # probed again and again...
    events = health_events(registry, vm_id)
    assert len(events) == 1  # ...but the log records the transition only
    assert events[0]["actor"] == {"system": "health-checks"}
    assert events[0]["data"] == {"service": "svc0", "status": "passing", "detail": "HTTP 200"}


def test_a_failing_service_turns_critical_after_two_failures(
    registry: httpx.Client, services: Services
) -> None:
    vm_id = register(registry, services, "/fail")
    assert eventually(lambda: health_of(registry, vm_id)) == {"svc0": "critical"}
    assert services.hits["/fail"] >= 2
    [event] = health_events(registry, vm_id)
    assert event["data"] == {"service": "svc0", "status": "critical", "detail": "HTTP 500"}


def test_a_service_hanging_past_the_timeout_is_critical(
    registry: httpx.Client, services: Services
) -> None:
    vm_id = register(registry, services, "/hang")
    assert eventually(lambda: health_of(registry, vm_id)) == {"svc0": "critical"}
    [event] = health_events(registry, vm_id)
    assert event["data"]["detail"] == "no answer within 0.5 s"


def test_a_service_that_flips_is_recorded_at_each_transition(
    registry: httpx.Client, services: Services
) -> None:
    services.flip_healthy = True
    vm_id = register(registry, services, "/flip")
    eventually(lambda: health_of(registry, vm_id) == {"svc0": "passing"})
    services.flip_healthy = False
    eventually(lambda: health_of(registry, vm_id) == {"svc0": "critical"})
    services.flip_healthy = True
    eventually(lambda: health_of(registry, vm_id) == {"svc0": "passing"})
    statuses = [(e["data"]["status"], e["data"]["detail"]) for e in health_events(registry, vm_id)]
    assert statuses == [("passing", "HTTP 200"), ("critical", "HTTP 503"), ("passing", "HTTP 200")]


def test_healthy_discover_leaves_out_vms_with_a_critical_service(
    registry: httpx.Client, services: Services
) -> None:
    good = register(registry, services, "/ok", role="golden")
    bad = register(registry, services, "/ok", "/fail", role="golden")
    unchecked = register(registry, services, None, role="golden")
    eventually(lambda: health_of(registry, bad) == {"svc0": "passing", "svc1": "critical"})
    eventually(lambda: health_of(registry, good) == {"svc0": "passing"})

    def ids(query: str) -> set[str]:
        response = registry.get(f"/registry/discover/golden{query}")
        assert response.status_code == 200, response.text
        return {vm["id"] for vm in response.json()["vms"]}

    assert ids("") == {good, bad, unchecked}  # the default discover is the seed's
    assert ids("?healthy=false") == {good, bad, unchecked}
    assert ids("?healthy=true") == {good, unchecked}
    with RegistryClient(str(registry.base_url)) as client:  # the client asks the same
        assert {e.id for e in client.discover("golden", healthy=True)} == {good, unchecked}
        assert client.get(bad).health == {"svc0": "passing", "svc1": "critical"}
        assert not client.get(bad).healthy
    unchecked_entry = registry.get(f"/registry/vms/{unchecked}").json()
    assert "health" not in unchecked_entry  # no checked service, no health field


def test_healthy_must_be_a_boolean(registry: httpx.Client) -> None:
    response = registry.get("/registry/discover/worker?healthy=maybe")
    assert response.status_code == 400
    assert "healthy" in response.json()["error"]


def test_an_address_outside_the_allow_list_is_never_contacted(
    registry: httpx.Client, outsider: Services
) -> None:
    vm_id = register(registry, outsider, "/ok")
    assert eventually(lambda: health_of(registry, vm_id)) == {"svc0": "critical"}
    [event] = health_events(registry, vm_id)
    assert event["data"]["detail"] == (
        "not probed: 127.0.0.2 is outside the health-check allow-list"
    )
    assert sum(outsider.hits.values()) == 0


def test_a_stopped_vm_is_not_probed_and_changing_the_service_drops_its_health(
    registry: httpx.Client, services: Services
) -> None:
    vm_id = register(registry, services, "/ok-stopped")
    register(registry, services, "/ok-companion")
    eventually(lambda: health_of(registry, vm_id) == {"svc0": "passing"})
    assert registry.patch(f"/registry/vms/{vm_id}", json={"status": "stopped"}).is_success
    seen = services.hits["/ok-stopped"]
    companion = services.hits["/ok-companion"]
    eventually(lambda: services.hits["/ok-companion"] >= companion + 3)  # three more rounds
    assert services.hits["/ok-stopped"] <= seen + 1  # at most a probe already in flight
    unchecked = [{"name": "svc0", "port": services.port}]
    response = registry.patch(f"/registry/vms/{vm_id}", json={"services": unchecked})
    assert response.status_code == 200
    assert "health" not in response.json()


def test_the_feed_and_the_events_api_carry_vm_health(
    registry: httpx.Client, services: Services
) -> None:
    vm_id = register(registry, services, "/ok")
    eventually(lambda: health_of(registry, vm_id))
    page = registry.get("/registry/events", params={"vm": vm_id, "type": "vm.health"}).json()
    assert [e["type"] for e in page["events"]] == ["vm.health"]
    seq = page["events"][0]["seq"]
    with registry.stream(
        "GET", "/registry/stream", params={"after": seq - 1, "types": "vm.health", "vm": vm_id}
    ) as stream:
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert "event: vm.health" in lines
    assert f"id: {seq}" in lines
    data = lines[-1]
    assert '"health":{"svc0":"passing"}' in data


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not in /metrics")


def test_metrics_count_probes_by_result_and_services_by_status(
    registry: httpx.Client, services: Services
) -> None:
    good = register(registry, services, "/ok-metrics")
    bad = register(registry, services, "/fail-metrics")
    eventually(
        lambda: health_of(registry, good) and health_of(registry, bad) == {"svc0": "critical"}
    )
    text = registry.get("/metrics").text
    assert metric(text, 'vm_registry_health_probes_total{result="passing"}') >= 1
    assert metric(text, 'vm_registry_health_probes_total{result="failing"}') >= 2
    assert metric(text, 'vm_registry_health_probes_total{result="refused"}') >= 0
    assert metric(text, "vm_registry_health_transitions_total") >= 2
    assert metric(text, 'vm_registry_health_services{status="critical"}') >= 1
    assert metric(text, "vm_registry_blocking_queries_held") == 0


def test_time_travel_replay_and_verify_fold_vm_health(
    registry: httpx.Client, server: ServerProcess, services: Services
) -> None:
    vm_id = register(registry, services, "/fail-history")
    eventually(lambda: health_of(registry, vm_id))
    [event] = health_events(registry, vm_id)
    seq = event["seq"]
    before = registry.get(f"/registry/vms/{vm_id}", params={"at": seq - 1}).json()
    after = registry.get(f"/registry/vms/{vm_id}", params={"at": seq}).json()
    assert "health" not in before
    assert after["health"] == {"svc0": "critical"}
    db = backend.target(server.db)
    command = [sys.executable, "-m", "vm_registry.cli.main"]
    checked = subprocess.run([*command, "verify", "--db", db], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    replayed = subprocess.run(
        [*command, "replay", "--db", db, "--until", str(seq), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert '"health":{"svc0":"critical"}' in replayed.stdout.replace(" ", "")
