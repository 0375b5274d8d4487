"""A real nginx with ops/nginx/vm-registry.conf, in front of two real registry replicas on one
log (one SQLite file, docs/scale-out.md), on loopback.

The replicas run with keepalive comments turned almost off, so nothing but the events
themselves could push a buffered frame through: an event that reaches the watcher at all,
while its stream stays open, went through unbuffered.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.nginx import SITE, Nginx, site
from tests.support import requires
from tests.support.polling import eventually
from tests.support.server import ServerProcess, free_port


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    folder = tmp_path_factory.mktemp("proxied")
    shared = ["--db", str(folder / "registry.db"), "--keepalive", "600"]
    running: list[ServerProcess] = []
    try:
        for index in range(2):
            # Each replica logs beside its own name; both use the one log given by --db.
            running.append(ServerProcess(folder / f"replica-{index}.db", args=shared).start())
        yield running
    finally:
        for replica in running:
            replica.kill()


@pytest.fixture(scope="module")
def proxy(
    replicas: list[ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    executable = requires.nginx()
    prefix = tmp_path_factory.mktemp("nginx")
    nginx = Nginx(executable, prefix, "")
    ports = [replica.port for replica in replicas]
    (prefix / "site.conf").write_text(site(SITE.read_text(), ports, nginx.port))
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()


def body(vm_id: str) -> dict[str, str]:
    return {
        "id": vm_id,
        "name": f"{vm_id}-name",
        "role": "worker",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
    }


def test_events_reach_a_watcher_through_the_proxy_at_once(
    proxy: Nginx, replicas: list[ServerProcess]
) -> None:
    """Each event crosses the proxy while the stream stays open, and in the best of five
    writes it is at the watcher within 100 ms of the write's acknowledgement (the registry
    publishes an event when it commits it, as it answers the write). The best of five, so that
    one slow moment of a busy machine cannot fail it; a buffering proxy fails every one, as
    its frames wait for a buffer to fill or for the stream to end. The writes go to the two
    replicas in turn, so the one stream carries the events of both."""
    timeout = httpx.Timeout(10, read=10)
    with (
        httpx.Client(base_url=proxy.url, timeout=timeout) as http,
        http.stream("GET", "/registry/stream") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        delays = []
        for n in range(5):
            replica = replicas[n % 2].url
            written = httpx.post(f"{replica}/registry/vms", json=body(f"proxied-{n}"), timeout=10)
            acknowledged = time.monotonic()
            assert written.status_code == 201, written.text
            seq = written.headers["x-registry-revision"]
            while (line := next(lines)) != f"id: {seq}":
                assert not line.startswith("id: "), f"expected id {seq}, got {line}"
            assert next(lines) == "event: vm.registered"
            assert f'"vmId":"proxied-{n}"' in next(lines)
            delays.append(time.monotonic() - acknowledged)
    assert min(delays) < 0.1, f"seconds from acknowledgement to the watcher: {delays}"


def test_the_api_works_through_the_proxy(proxy: Nginx, replicas: list[ServerProcess]) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        created = http.post("/registry/vms", json=body("via-proxy"))
        assert created.status_code == 201, created.text
        assert created.headers["x-content-type-options"] == "nosniff"
        # The next request may go to the other replica: read my write there (docs/scale-out.md).
        seen = {"minRevision": created.headers["x-registry-revision"]}
        listed = http.get("/registry/vms", params=seen)
        assert "via-proxy" in [vm["id"] for vm in listed.json()["vms"]]
        assert int(listed.headers["x-registry-revision"]) >= 1
        changed = http.patch("/registry/vms/via-proxy", json={"status": "paused"})
        assert changed.json()["status"] == "paused"
        assert http.get("/ui").status_code == 200
        # Errors stay the registry's own.
        missing = http.get("/registry/vms/no-such-vm")
        assert missing.status_code == 404 and set(missing.json()) == {"error"}
        assert http.delete("/registry/vms/via-proxy").status_code == 200
        for n in range(6):
            ask = {"X-Request-ID": f"spread-{n}"}
            assert http.get("/registry/vms", headers=ask).status_code == 200
    # nginx shared them between the replicas: each logged some (request logs name the id,
    # and are written once the answer is out, so the last may lag a moment).
    for replica in replicas:
        eventually(
            lambda logged=replica: "spread-" in logged.output(),
            what=f"a spread- request line in {replica.url}'s log",
        )


def test_request_ids_pass_through_or_come_from_nginx(proxy: Nginx) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        mine = http.get("/registry/vms", headers={"X-Request-ID": "ops-check-1"})
        assert mine.headers["x-request-id"] == "ops-check-1"
        made = [http.get("/registry/vms").headers["x-request-id"] for _ in range(2)]
        assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made)  # nginx's $request_id
        assert made[0] != made[1]


def test_the_client_address_cannot_be_forged_through_the_proxy(proxy: Nginx) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        forged = {"X-Forwarded-For": "203.0.113.9"}
        assert http.post("/registry/vms", json=body("forged"), headers=forged).status_code == 201
        events = http.get("/registry/events", params={"vm": "forged"}).json()["events"]
        assert events, "the log has the registration, whichever replica answers"
        assert events[0]["actor"]["ip"] == "127.0.0.1"


def test_a_body_over_the_limit_is_refused_by_nginx_as_json(proxy: Nginx) -> None:
    too_big = b'{"id": "big", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    answer = httpx.post(
        f"{proxy.url}/registry/vms",
        content=too_big,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 413
    assert answer.headers["server"].startswith("nginx")  # the registry sends no Server header
    assert answer.headers["content-type"] == "application/json"
    assert "1 MiB" in answer.json()["error"]


def test_no_replica_is_a_json_502(tmp_path: Path) -> None:
    nginx = Nginx(requires.nginx(), tmp_path, "")
    (tmp_path / "site.conf").write_text(site(SITE.read_text(), [free_port()], nginx.port))
    nginx.start()
    try:
        answer = httpx.get(f"{nginx.url}/registry/vms", timeout=10)
        assert answer.status_code == 502
        assert answer.headers["retry-after"] == "1"
        assert set(answer.json()) == {"error"}
    finally:
        nginx.stop()
