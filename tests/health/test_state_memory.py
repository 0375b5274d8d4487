"""Issue #25's rule for the health-check state (docs/reliability.md, "Tables clients can grow"):
the checker's row for each checked service (`service/health_checks.py`) and each VM's budget of
changes (`service/health_budget.py`) are pruned each round to the live VMs' services. Here
generations of VMs with the longest ids, each with many checked services of distinct long names
and paths on a loopback port, are registered, probed until every service has a status, and
deregistered, while the server's RSS is measured.

What else this churn grows has its own bound, and the sum of those worst cases is what the
growth is held to, as in `tests/api/test_memory_tables.py`: the shared values (the services of
each registration), the VM id cache, the tail of `vm.health` events and the tail's notes.
That sum is loose, and a row is small: with the pruning taken out, a longer run (2,880
services) added about 0.7 MiB (some 260 bytes each) to 6.3 MiB of growth. So this shows the
documented sum holds for hostile health churn; that the rows are let go at all is shown on the
checker itself
(`test_checker.py::test_a_deregistered_vm_leaves_no_failure_count_or_budget_behind`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.health.services import Services, running_services
from tests.support import polling
from tests.support.memory import KiB, MiB, rss, within
from tests.support.server import ServerProcess

GENERATIONS_WARM = 2
GENERATIONS_MEASURED = 4
VMS = 10  # a generation
SERVICES = 48  # a VM: distinct names and paths, about 30 KB of services
DEADLINE = 60.0

TAIL = 4 * MiB
SLACK = 12 * MiB
# docs/reliability.md: shared values (4 MiB charged, two generations), the VM id cache, the
# tail's notes of what each VM lost.
SHARED_VALUES_WORST = int(6.5 * 4 * MiB)
VM_CACHE_WORST = 16 * MiB
DROPPED_NOTES_WORST = 16 * MiB
# The health-check state of one live checked service: its key, row and target (whose strings
# are the entry's own), 512 bytes; and a VM's budget, at most 4 slots, 1 KiB. After the last
# generation is deregistered only the sentinel VM is live.
HEALTH_STATE_WORST = 64 * 512 + 1 * KiB


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


def probes_made(http: httpx.Client) -> float:
    """Probes made so far, whatever their result."""
    lines = http.get("/metrics").text.splitlines()
    made = [ln for ln in lines if ln.startswith("vm_registry_health_probes_total{")]
    assert made, "vm_registry_health_probes_total is not in /metrics"
    return sum(float(ln.split()[-1]) for ln in made)


def body(vm_id: str, services: Services, tag: str) -> dict[str, object]:
    checked = [
        {
            "name": f"{tag}-{i:02d}-" + "n" * 300,
            "port": services.port,
            # Half pass, half fail: first records of both kinds, and failure counts kept.
            "healthPath": f"/{'ok' if i % 2 else 'fail'}/{tag}/{i:02d}/" + "p" * 300,
        }
        for i in range(SERVICES)
    ]
    return {
        "id": vm_id,
        "name": vm_id,
        "role": "golden",
        "address": "127.0.0.1",
        "registeredBy": "test",
        "services": checked,
    }


def generation(http: httpx.Client, services: Services, number: int) -> None:
    """Register a generation, wait until every service of it has a status (so the checker
    holds a row for each), and deregister it."""
    ids = [f"{number:03d}-{n:03d}-" + "\U0001f600" * 248 for n in range(VMS)]  # 256 characters
    for n, vm_id in enumerate(ids):
        answer = http.post("/registry/vms", json=body(vm_id, services, f"g{number}v{n}"))
        assert answer.status_code == 201, answer.text

    def all_have_a_status() -> bool:
        for vm_id in ids:
            health = http.get(f"/registry/vms/{vm_id}").json().get("health") or {}
            if len(health) < SERVICES:
                return False
        return True

    polling.eventually(all_have_a_status, DEADLINE, f"generation {number} probed")
    for vm_id in ids:
        assert http.delete(f"/registry/vms/{vm_id}").status_code == 200


def rounds_pass(http: httpx.Client, count: int) -> None:
    """Wait until the sentinel VM's one service has been probed `count` more times: that many
    rounds, each of which pruned the state to the live VMs, have run."""
    target = probes_made(http) + count
    polling.eventually(lambda: probes_made(http) >= target, DEADLINE, f"{count} rounds")


@pytest.mark.timeout(240)  # hundreds of registrations and thousands of probes, on a busy machine
def test_health_state_of_deregistered_vms_is_let_go(tmp_path: Path, services: Services) -> None:
    args = ["--health-checks", "--health-check-allow", "127.0.0.1", "--check-interval", "0.5"]
    args += ["--check-timeout", "2", "--check-failures", "1", "--feed-tail-bytes", str(TAIL)]
    server = ServerProcess(tmp_path / "registry.db", args=args).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            sentinel = {"name": "sentinel", "port": services.port, "healthPath": "/ok/sentinel"}
            answer = http.post(
                "/registry/vms",
                json={**body("sentinel", services, "s"), "services": [sentinel]},
            )
            assert answer.status_code == 201, answer.text
            for number in range(GENERATIONS_WARM):
                generation(http, services, number)
            rounds_pass(http, 2)
            before = rss(server)
            for number in range(GENERATIONS_WARM, GENERATIONS_WARM + GENERATIONS_MEASURED):
                generation(http, services, number)
            rounds_pass(http, 2)
            grown = rss(server) - before
        bound = HEALTH_STATE_WORST + SHARED_VALUES_WORST + VM_CACHE_WORST + DROPPED_NOTES_WORST
        bound += TAIL + SLACK
        assert grown < bound, within(grown, bound)
    finally:
        server.kill()
