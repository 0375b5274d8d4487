"""Blocking queries against a real server: `?index=N&wait=...` answers at once when the scope
changed after N, and otherwise holds the request until a change alters the answer.

No test measures time. A request that should be answered at once asks to wait five minutes
with a ten-second client timeout, so holding it would fail the test; a request that should be
held is answered with the change that was made while it was held.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures import http_fixture, server_fixture
from tests.support.polling import eventually
from tests.support.server import ServerProcess

LONG = "5m"  # asked for when the answer must come at once: holding it would time the test out


server = server_fixture("blocking", "--max-held-queries", "3")


http = http_fixture()


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def register(http: httpx.Client, role: str = "worker", **fields: Any) -> str:
    vm_id = fields.pop("id", None) or f"vm-{uuid.uuid4().hex[:10]}"
    body = {
        "id": vm_id,
        "name": vm_id,
        "role": role,
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "test",
        **fields,
    }
    response = http.post("/registry/vms", json=body)
    assert response.status_code == 201, response.text
    return vm_id


def revision(response: httpx.Response) -> int:
    return int(response.headers["X-Registry-Revision"])


def held(http: httpx.Client) -> int:
    count: int = http.get("/health").json()["heldQueries"]
    return count


def server_threads(server: ServerProcess) -> int:
    assert server.proc is not None
    return len(list(Path(f"/proc/{server.proc.pid}/task").iterdir()))


def until(check: Callable[[], bool]) -> None:
    eventually(check, 30, "the server's state")


def in_background(
    pool: ThreadPoolExecutor, url: str, path: str, **params: Any
) -> Future[httpx.Response]:
    def ask() -> httpx.Response:
        return httpx.get(url + path, params=params, timeout=60)

    return pool.submit(ask)


def hold(
    http: httpx.Client, pool: ThreadPoolExecutor, path: str, **params: Any
) -> Future[httpx.Response]:
    """Send a blocking query and return once the server is holding it."""
    before = held(http)
    answer = in_background(pool, str(http.base_url), path, **params)
    until(lambda: held(http) > before or answer.done())
    assert not answer.done(), answer.result().text
    return answer


def test_an_index_behind_the_scope_is_answered_at_once(http: httpx.Client) -> None:
    vm_id = register(http)
    seen = revision(http.get(f"/registry/vms/{vm_id}"))
    response = http.get(f"/registry/vms/{vm_id}", params={"index": seen - 1, "wait": LONG})
    assert response.status_code == 200
    assert response.json()["id"] == vm_id
    assert revision(response) == seen
    listing = http.get("/registry/vms", params={"index": seen - 1, "wait": LONG})
    assert vm_id in {vm["id"] for vm in listing.json()["vms"]}
    found = http.get("/registry/discover/worker", params={"index": seen - 1, "wait": LONG})
    assert vm_id in {vm["id"] for vm in found.json()["vms"]}


def test_an_index_ahead_of_the_log_is_answered_at_once(http: httpx.Client) -> None:
    response = http.get("/registry/vms", params={"index": 10**9, "wait": LONG})
    assert response.status_code == 200


def test_a_held_entry_is_answered_with_the_change(
    http: httpx.Client, pool: ThreadPoolExecutor
) -> None:
    vm_id = register(http)
    seen = revision(http.get(f"/registry/vms/{vm_id}"))
    answer = hold(http, pool, f"/registry/vms/{vm_id}", index=seen, wait="60s")
    for _ in range(3):  # heartbeats move lastSeen only: they wake nobody
        assert http.post(f"/registry/vms/{vm_id}/heartbeat").status_code == 200
    assert not answer.done()
    patched = http.patch(f"/registry/vms/{vm_id}", json={"metadata": {"phase": "ready"}})
    response = answer.result()
    assert response.status_code == 200
    assert response.json()["metadata"] == {"phase": "ready"}
    assert revision(response) >= patched.json()["revision"]


def test_a_missing_vm_can_be_waited_for(http: httpx.Client, pool: ThreadPoolExecutor) -> None:
    vm_id = f"vm-{uuid.uuid4().hex[:10]}"
    missing = http.get(f"/registry/vms/{vm_id}")
    assert missing.status_code == 404
    answer = hold(http, pool, f"/registry/vms/{vm_id}", index=revision(missing), wait="60s")
    register(http, id=vm_id)
    response = answer.result()
    assert response.status_code == 200
    assert response.json()["id"] == vm_id


def test_held_discover_ignores_changes_outside_its_result(
    http: httpx.Client, pool: ThreadPoolExecutor
) -> None:
    paused = register(http, role="custom", status="paused")
    seen = revision(http.get("/registry/discover/custom"))
    answer = hold(http, pool, "/registry/discover/custom", index=seen, wait="60s")
    http.patch(f"/registry/vms/{paused}", json={"metadata": {"note": "still paused"}})
    register(http, role="worker")  # another role
    assert not answer.done()
    newcomer = register(http, role="custom")
    response = answer.result()
    assert [vm["id"] for vm in response.json()["vms"]] == [newcomer]


def test_held_list_wakes_when_a_vm_leaves_it(http: httpx.Client, pool: ThreadPoolExecutor) -> None:
    vm_id = register(http, role="golden")
    seen = revision(http.get("/registry/vms", params={"role": "golden", "status": "running"}))
    answer = hold(http, pool, "/registry/vms", role="golden", status="running", index=seen)
    http.patch(f"/registry/vms/{vm_id}", json={"status": "stopped"})
    response = answer.result()
    assert vm_id not in {vm["id"] for vm in response.json()["vms"]}


def test_the_wait_ends_with_the_unchanged_answer(http: httpx.Client) -> None:
    vm_id = register(http)
    seen = revision(http.get(f"/registry/vms/{vm_id}"))
    response = http.get(f"/registry/vms/{vm_id}", params={"index": seen, "wait": "300ms"})
    assert response.status_code == 200
    assert response.json()["id"] == vm_id
    assert revision(response) >= seen


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"wait": "10s"}, "wait needs index"),
        ({"index": "1", "wait": "soon"}, "wait='soon' must be a duration"),
        ({"index": "1", "wait": "-1s"}, "must be a duration"),
        ({"index": "-1"}, "index"),
        ({"index": "1", "at": "1"}, "cannot be combined with at or asOf"),
    ],
)
def test_bad_blocking_parameters_are_refused(
    http: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = http.get("/registry/vms", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_past_the_bound_a_blocking_query_gets_503_and_a_hung_up_one_frees_its_place(
    http: httpx.Client, server: ServerProcess, pool: ThreadPoolExecutor
) -> None:
    until(lambda: held(http) == 0)
    vm_id = register(http)
    seen = revision(http.get(f"/registry/vms/{vm_id}"))
    params = {"index": seen, "wait": "60s"}
    path = f"/registry/vms/{vm_id}"
    threads = server_threads(server)
    answers = [hold(http, pool, path, **params) for _ in range(3)]
    assert server_threads(server) <= threads  # held on futures: no thread each
    gauge = "vm_registry_blocking_queries_held 3.0"
    assert gauge in http.get("/metrics").text.splitlines()
    refused = http.get(path, params=params)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "limit of 3 blocking queries" in refused.json()["error"]
    http.patch(path, json={"name": "woken"})
    assert all(a.result().json()["name"] == "woken" for a in answers)
    # A client that gives up does not keep its place.
    seen = revision(http.get(path))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url + path, params={"index": seen, "wait": "60s"}, timeout=0.5)
    until(lambda: held(http) == 0)


def test_shutdown_answers_held_queries_instead_of_cutting_them(
    tmp_path_factory: pytest.TempPathFactory, pool: ThreadPoolExecutor
) -> None:
    proc = ServerProcess(tmp_path_factory.mktemp("shutdown") / "registry.db").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=10) as client:
            seen = revision(client.get("/registry/vms"))
            answer = hold(client, pool, "/registry/vms", index=seen, wait="60s")
        assert proc.stop() == 0
        response = answer.result()
        assert response.status_code == 200
        assert response.json() == {"vms": [], "count": 0}
    finally:
        proc.kill()


def test_a_server_started_without_health_checks_makes_no_probes(http: httpx.Client) -> None:
    text = http.get("/metrics").text
    assert "vm_registry_blocking_queries_held" in text
    assert "vm_registry_health_probes" not in text  # off by default: no checker at all
