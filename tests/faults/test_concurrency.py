"""Races decided by the single writer: one winner, whatever the interleaving.

Every client gets its own connection and all of them are released at once by a barrier, so the
requests reach the server together and land in the same or adjacent group commits.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import vm
from tests.faults import audit
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess

CLIENTS = 24


live = server_fixture("races")


http = http_fixture("live", timeout=30, scope="function")


def at_once(url: str, request: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(CLIENTS)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/health")  # connect first, so the barrier releases requests, not dials
            barrier.wait(30)
            answer = request(client)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == CLIENTS
    return answers


def statuses(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(answer.status_code for answer in answers)


@pytest.mark.parametrize("round_", range(3))
def test_one_id_registered_by_many_clients_at_once_gives_one_201(
    live: ServerProcess, http: httpx.Client, round_: int
) -> None:
    vm_id = f"contested-{round_}"
    answers = at_once(
        live.url,
        lambda c: c.post("/registry/vms", json=vm(vm_id, name=f"by-{threading.get_ident()}")),
    )
    assert statuses(answers) == {201: 1, 409: CLIENTS - 1}
    winner = next(a for a in answers if a.status_code == 201).json()
    assert http.get(f"/registry/vms/{vm_id}").json() == winner
    events = [e for e in audit.all_events(http) if e["vmId"] == vm_id]
    assert [e["type"] for e in events] == ["vm.registered"]


def test_concurrent_patches_with_one_if_match_have_one_winner(
    live: ServerProcess, http: httpx.Client
) -> None:
    created = http.post("/registry/vms", json=vm("conditional"))
    etag = created.headers["etag"]
    answers = at_once(
        live.url,
        lambda c: c.patch(
            "/registry/vms/conditional",
            json={"name": f"by-{threading.get_ident()}"},
            headers={"If-Match": etag},
        ),
    )
    assert statuses(answers) == {200: 1, 412: CLIENTS - 1}
    winner = next(a for a in answers if a.status_code == 200).json()
    assert http.get("/registry/vms/conditional").json()["name"] == winner["name"]
    loser = next(a for a in answers if a.status_code == 412).json()
    assert set(loser) == {"error"}


def test_delete_with_a_stale_if_match_is_refused(http: httpx.Client) -> None:
    created = http.post("/registry/vms", json=vm("stale-etag"))
    stale = created.headers["etag"]
    assert http.patch("/registry/vms/stale-etag", json={"status": "paused"}).status_code == 200
    refused = http.delete("/registry/vms/stale-etag", headers={"If-Match": stale})
    assert refused.status_code == 412, refused.text
    assert http.get("/registry/vms/stale-etag").status_code == 200
    fresh = http.get("/registry/vms/stale-etag").headers["etag"]
    assert http.delete("/registry/vms/stale-etag", headers={"If-Match": fresh}).status_code == 200


def test_concurrent_deletes_with_one_if_match_have_one_winner(
    live: ServerProcess, http: httpx.Client
) -> None:
    etag = http.post("/registry/vms", json=vm("deleted-once")).headers["etag"]
    answers = at_once(
        live.url, lambda c: c.delete("/registry/vms/deleted-once", headers={"If-Match": etag})
    )
    # After the winner, the VM is gone: the others get 404, or 412 if they raced the delete.
    counted = statuses(answers)
    assert counted[200] == 1 and counted[200] + counted[404] + counted[412] == CLIENTS
