"""Staleness with a short `--stale-after`: what discover and the filters leave out, and the
grace after a restart. Waits poll for the state a user would see, with a generous deadline;
nothing asserts how long anything took."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.conftest import new_id, revision
from tests.conftest import vm
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.polling import eventually
from tests.support.server import ServerProcess
from vm_registry.domain.timestamps import parse_iso

DEADLINE = 20.0


def discovered(client: httpx.Client, role: str = "worker") -> list[str]:
    return [e["id"] for e in client.get(f"/registry/discover/{role}").json()["vms"]]


def running(client: httpx.Client) -> list[str]:
    return [e["id"] for e in client.get("/registry/vms?status=running").json()["vms"]]


def listed(client: httpx.Client, query: str = "") -> list[str]:
    return [e["id"] for e in client.get(f"/registry/vms{query}").json()["vms"]]


def revived_by(client: httpx.Client, touch: Callable[[], httpx.Response], vm_id: str) -> bool:
    """Touch the VM, then look. A few tries, so a slow machine cannot let the one-second window
    pass between the two; a touch that did not refresh the VM fails every try."""
    for _ in range(5):
        assert touch().status_code in (200, 201)
        if vm_id in discovered(client) and vm_id in running(client):
            return True
    return False


stale_server = server_fixture("stale", "--stale-after", "1")
quick = http_fixture("stale_server")


def test_a_silent_running_vm_goes_stale_and_a_heartbeat_revives_it(quick: httpx.Client) -> None:
    vm_id, paused = new_id("silent"), new_id("paused")
    assert revived_by(quick, lambda: quick.post("/registry/vms", json=vm(vm_id)), vm_id)
    assert quick.post("/registry/vms", json=vm(paused, status="paused")).status_code == 201

    assert eventually(lambda: vm_id not in discovered(quick))
    assert vm_id not in running(quick)
    # Still registered: the unfiltered list and a direct read show it, as running.
    assert vm_id in listed(quick)
    entry = quick.get(f"/registry/vms/{vm_id}").json()
    assert entry["status"] == "running"
    assert entry.get("stale", True) is True
    # Other statuses never go stale.
    assert paused in listed(quick, "?status=paused")
    assert paused not in discovered(quick)

    assert revived_by(quick, lambda: quick.post(f"/registry/vms/{vm_id}/heartbeat"), vm_id)


def test_an_update_revives_a_stale_vm(quick: httpx.Client) -> None:
    vm_id = new_id("update")
    assert quick.post("/registry/vms", json=vm(vm_id)).status_code == 201
    assert eventually(lambda: vm_id not in running(quick))
    touch = lambda: quick.patch(f"/registry/vms/{vm_id}", json={"name": "back"})  # noqa: E731
    assert revived_by(quick, touch, vm_id)


def test_a_stale_vm_set_to_paused_and_back_to_running_is_fresh(quick: httpx.Client) -> None:
    vm_id = new_id("cycle")
    assert quick.post("/registry/vms", json=vm(vm_id)).status_code == 201
    assert eventually(lambda: vm_id not in discovered(quick))
    assert quick.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code == 200
    assert vm_id in listed(quick, "?status=paused")
    touch = lambda: quick.patch(f"/registry/vms/{vm_id}", json={"status": "running"})  # noqa: E731
    assert revived_by(quick, touch, vm_id)


def test_after_a_restart_every_vm_gets_a_full_window(tmp_path: Path) -> None:
    """The registry was down, so agents could not reach it: after a restart a VM silent for
    longer than the window counts as fresh until the window has passed since startup. That
    holds for a VM that went stale before the restart too."""
    db = tmp_path / "registry.db"
    marked, silent = new_id("marked"), new_id("silent")
    first = ServerProcess(db, args=["--stale-after", "1"]).start()
    try:
        with httpx.Client(base_url=first.url, timeout=10) as client:
            registered = client.post("/registry/vms", json=vm(marked)).json()["revision"]
            assert eventually(lambda: marked not in discovered(client))
            # Give the server time to record the staleness in its log, if it does that.
            eventually(lambda: revision(client) > registered, timeout=5)
            last_seen = client.post("/registry/vms", json=vm(silent)).json()["lastSeen"]
    finally:
        first.stop()
    # While the registry is down, both VMs stay silent for longer than the next window.
    time.sleep(max(0.0, parse_iso(last_seen) / 1000 + 2.5 - time.time()))

    # A 2 s window, with both VMs silent for longer than that.
    second = ServerProcess(db, args=["--stale-after", "2"]).start()
    try:
        with httpx.Client(base_url=second.url, timeout=10) as client:
            assert silent in discovered(client)
            assert silent in running(client)
            assert marked in discovered(client)
            assert marked in running(client)
            assert eventually(lambda: not {marked, silent} & set(discovered(client)))
            assert not {marked, silent} & set(running(client))
            assert {marked, silent} <= set(listed(client))
    finally:
        second.kill()
