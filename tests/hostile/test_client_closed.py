"""A client that hangs up in the middle of its request body, or is cut off there by the server's
own 408, 431 or 413, was counted as a 500 in `/metrics` and the request log: litestar answers the
disconnect with a 500 that nobody receives. So any client could raise the server's error rate,
and page its operators, at will. Such a request is now recorded as 499 ("client closed
request"), with no 5xx anywhere; a request whose body was complete keeps its real status.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import orjson

from tests.conftest import vm
from tests.hostile.raw_http import exchange, json_error, send_until_answered
from tests.hostile.test_chunk_extensions import one_endless_extension
from tests.hostile.test_chunked_trailers import many_trailer_lines
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.telemetry.scrape import scrape, wait_for

live = server_fixture("client-closed", "--body-timeout", "1", "--log-format", "json")
http = http_fixture("live")

REQUESTS = "vm_registry_http_requests_total"
ROUTE = "/registry/vms"


def half_a_registration(vm_id: str) -> bytes:
    body = json.dumps(vm(vm_id)).encode()
    return (
        b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (vm_id.encode(), len(body), body[: len(body) // 2])
    )


def statuses(http: httpx.Client) -> dict[str, float]:
    """The POST route's request counts by status."""
    return {
        dict(labels)["status"]: count
        for (name, labels), count in scrape(http).items()
        if name == REQUESTS and dict(labels).get("route") == ROUTE
    }


def request_lines(live: ServerProcess) -> list[dict[str, Any]]:
    return [
        line
        for line in map(orjson.loads, live.output().splitlines())
        if line["logger"] == "vm_registry.request" and line["route"] == ROUTE
    ]


def recorded_499(http: httpx.Client, live: ServerProcess, before: float, count: int) -> None:
    """Waits until `count` more 499s are counted and logged (a log line may follow its count by
    a moment), then checks nothing was a 5xx."""

    def cut() -> list[dict[str, Any]]:
        return [line for line in request_lines(live) if line["status"] == 499]

    wait_for(lambda: statuses(http).get("499", 0) >= before + count)
    wait_for(lambda: len(cut()) >= before + count)
    assert not [s for s in statuses(http) if s.startswith("5")], statuses(http)
    assert not [line for line in request_lines(live) if line["status"] >= 500]
    assert all(line["bytes"] == 0 for line in cut()), cut()


def test_a_client_that_leaves_halfway_through_its_body_is_499_not_500(
    live: ServerProcess, http: httpx.Client, vm_id: str
) -> None:
    before = statuses(http).get("499", 0)
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(half_a_registration(vm_id))
    recorded_499(http, live, before, 1)
    (line,) = [line for line in request_lines(live) if line["requestId"] == vm_id]
    assert line["status"] == 499


def test_a_body_cut_off_by_the_408_is_499(
    live: ServerProcess, http: httpx.Client, vm_id: str
) -> None:
    before = statuses(http).get("499", 0)
    json_error(exchange(live, half_a_registration(vm_id)), 408)
    recorded_499(http, live, before, 1)


def test_a_body_cut_off_by_the_trailers_431_is_499(
    live: ServerProcess, http: httpx.Client, vm_id: str
) -> None:
    before = statuses(http).get("499", 0)
    answer, _ = send_until_answered(live, many_trailer_lines(vm_id))
    json_error(answer, 431)
    recorded_499(http, live, before, 1)


def test_a_body_cut_off_by_the_framing_413_is_499(live: ServerProcess, http: httpx.Client) -> None:
    before = statuses(http).get("499", 0)
    answer, _ = send_until_answered(live, one_endless_extension())
    json_error(answer, 413)
    recorded_499(http, live, before, 1)


def test_a_complete_request_keeps_its_status(http: httpx.Client, vm_id: str) -> None:
    before = statuses(http)
    assert http.post(ROUTE, json=vm(vm_id)).status_code == 201
    assert http.post(ROUTE, content=b"{").status_code == 400
    after = statuses(http)
    assert after["201"] == before.get("201", 0) + 1
    assert after["400"] == before.get("400", 0) + 1
    assert after.get("499", 0) == before.get("499", 0)
