from __future__ import annotations

import threading

import httpx

from tests.api.conftest import new_id, revision
from tests.conftest import vm
from tests.support.answers import error_of
from tests.support.server import ServerProcess

CLIENTS = 24


def test_many_clients_registering_one_id_at_once_give_exactly_one_201(
    shared_server: ServerProcess, http: httpx.Client
) -> None:
    vm_id = new_id("race")
    before = revision(http)
    start = threading.Barrier(CLIENTS, timeout=30)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        with httpx.Client(base_url=shared_server.url, timeout=30) as client:
            client.get("/health")  # connect before the race starts
            start.wait()
            response = client.post("/registry/vms", json=vm(vm_id, name=f"client-{n}"))
            with lock:
                answers.append(response)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(answers) == CLIENTS
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * (CLIENTS - 1)
    winner = next(r.json() for r in answers if r.status_code == 201)
    for response in answers:
        if response.status_code == 409:
            assert vm_id in error_of(response, 409)
    assert http.get(f"/registry/vms/{vm_id}").json() == winner
    assert revision(http) == before + 1
    assert [e["id"] for e in http.get("/registry/vms").json()["vms"]].count(vm_id) == 1


def test_concurrent_writes_to_different_vms_all_land(
    shared_server: ServerProcess, http: httpx.Client
) -> None:
    ids = [new_id("parallel") for _ in range(CLIENTS)]
    before = revision(http)
    start = threading.Barrier(CLIENTS, timeout=30)
    statuses: list[int] = []
    lock = threading.Lock()

    def lifecycle(vm_id: str) -> None:
        with httpx.Client(base_url=shared_server.url, timeout=30) as client:
            start.wait()
            codes = [
                client.post("/registry/vms", json=vm(vm_id)).status_code,
                client.post(f"/registry/vms/{vm_id}/heartbeat").status_code,
                client.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code,
            ]
            with lock:
                statuses.extend(codes)

    threads = [threading.Thread(target=lifecycle, args=(vm_id,)) for vm_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == sorted([201, 200, 200] * CLIENTS)
    assert revision(http) == before + 3 * CLIENTS
    for vm_id in ids:
        entry = http.get(f"/registry/vms/{vm_id}").json()
        assert (entry["status"], entry["revision"] > before) == ("paused", True)
