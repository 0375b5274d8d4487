"""Issue #11, the body-read timeout: a request whose head arrived but whose body stops, or
trickles in, held its connection and its handler for ever. After `--body-timeout` (1 s here)
it gets 408 `{"error"}` and the connection closes; nothing it carried is written.

The bodies below never complete, so the only way any of these tests gets an answer is the
timeout itself: no test depends on how fast the machine is.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import vm
from tests.hostile.test_protocol_level import exchange, json_error
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

live = server_fixture("body-timeout", "--body-timeout", "1")


@pytest.fixture(scope="module")
def http(live: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        yield client


def revision(http: httpx.Client) -> int:
    value: int = http.get("/health").json()["revision"]
    return value


def post_head(length: int) -> bytes:
    return (
        b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def test_a_body_that_stops_halfway_gets_408_and_writes_nothing(
    live: ServerProcess, http: httpx.Client
) -> None:
    before = revision(http)
    body = json.dumps(vm("halfway")).encode()
    answer = exchange(live, post_head(len(body)) + body[: len(body) // 2])
    assert "request body did not arrive within 1 s" in json_error(answer, 408)
    assert revision(http) == before
    assert http.get("/registry/vms/halfway").status_code == 404


def test_a_trickled_body_is_cut_even_while_bytes_keep_coming(
    live: ServerProcess, http: httpx.Client
) -> None:
    before = revision(http)
    # 40 bytes of a promised 1,000, one every 0.1 s: the body never completes, so the server
    # must cut it while bytes are still arriving.
    answer = exchange(live, post_head(1000) + b'{"id":', *([b" "] * 40), pause=0.1)
    json_error(answer, 408)
    assert revision(http) == before


def test_a_normal_post_and_a_kept_alive_connection_are_not_cut(http: httpx.Client) -> None:
    assert http.post("/registry/vms", json=vm("normal")).status_code == 201
    time.sleep(1.5)  # past the body timeout, within uvicorn's keep-alive: the timer is gone
    assert http.post("/registry/vms", json=vm("normal-2")).status_code == 201
    assert http.get("/registry/vms/normal").status_code == 200


def test_a_body_sent_in_pieces_within_the_bound_is_served(live: ServerProcess) -> None:
    body = json.dumps(vm("in-pieces")).encode()
    head = post_head(len(body))[:-2] + b"Connection: close\r\n\r\n"
    answer = exchange(live, head, body[:10], body[10:], pause=0.05)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_the_change_feed_is_not_cut(live: ServerProcess, http: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(b"GET /registry/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200"), received[:300]
        time.sleep(1.5)  # past the body timeout: a request without a body has no timer
        assert http.post("/registry/vms", json=vm("seen-on-the-feed")).status_code == 201
        deadline = time.monotonic() + 10
        while b"seen-on-the-feed" not in received and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the stream"
            received += chunk
        assert b"seen-on-the-feed" in received
