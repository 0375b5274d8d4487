"""The fast path (cli/fast_path.py, api/wire.py) answers with the very bytes the app gives.

Two real servers on fresh logs, one with the fast path and one without (`--no-fast-path`), get
the same raw requests in the same order; the answers must be equal byte for byte but for the
date, the timestamps and a generated request id. So must each request's log line (but for its
time and duration) and what the HTTP metrics counted. The requests cover every route the
protocol answers, their errors (401 without or with a wrong token, 403, 404, 400), HTTP/1.0,
`Connection: close`, and a pipelined mix of requests it answers and requests it hands to the
app, which must come back in order. tests/api/test_fast_path_dispatch.py shows which requests
the protocol takes at all.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.hostile.raw_http import split_answers
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess
from tests.telemetry.scrape import Samples, scrape, wait_for

TOKENS = "boss:admin:boss-secret;reader:read:read-secret;bot:agent:bot-secret"
ENV = {"VM_REGISTRY_TOKENS": TOKENS}
fast = server_fixture("fast-path", "--log-level", "info", env=ENV)
asgi = server_fixture("asgi-path", "--log-level", "info", "--no-fast-path", env=ENV)

TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DATE = re.compile(rb"\r\ndate: [^\r]*")
GENERATED_ID = re.compile(rb"\r\nx-request-id: [0-9a-f]{32}\r\n")


def request(method: str, path: str, token: str | None = None, rid: str | None = None,
            extra: bytes = b"", version: bytes = b"1.1") -> bytes:  # fmt: skip
    head = b"%s %s HTTP/%s\r\nHost: registry.test\r\nUser-Agent: fast-test/1\r\n" % (
        method.encode(), path.encode(), version,
    )  # fmt: skip
    if token is not None:
        head += b"Authorization: Bearer %s\r\n" % token.encode()
    if rid is not None:
        head += b"X-Request-ID: %s\r\n" % rid.encode()
    return head + extra + b"\r\n"


def registration(vm_id: str, role: str, token: str) -> bytes:
    body = {"id": vm_id, "name": vm_id, "role": role, "address": f"{vm_id}.vm.vers.sh"}
    data = orjson.dumps({**body, "registeredBy": "test"})
    extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    return request("POST", "/registry/vms", token, extra=extra) + data


def normalised(raw: bytes) -> bytes:
    raw = DATE.sub(b"", raw)
    raw = GENERATED_ID.sub(b"\r\nx-request-id: <generated>\r\n", raw)
    return TIMESTAMP.sub(b"<t>", raw)


def talk(server: ServerProcess, data: bytes, answers: int) -> bytes:
    """Send `data` in one write and read `answers` answers (or to the close)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(data)
        got = b""
        while True:
            try:
                if len(split_answers(got)) >= answers:
                    return got
            except (AssertionError, KeyError):
                pass  # an answer is still incomplete
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk


def both(fast: ServerProcess, asgi: ServerProcess, data: bytes, answers: int = 1) -> bytes:
    """The normalised answer, the same from both servers."""
    got = normalised(talk(fast, data, answers))
    expected = normalised(talk(asgi, data, answers))
    assert got == expected
    return got


@pytest.fixture(scope="module")
def fleet(fast: ServerProcess, asgi: ServerProcess) -> None:
    # vm-d is the agent token's: its heartbeat on anyone else's VM is a 403.
    for vm_id, role, token in (
        ("vm-a", "lieutenant", "boss-secret"),
        ("vm-c", "lieutenant", "boss-secret"),
        ("vm-d", "worker", "bot-secret"),
    ):
        assert both(fast, asgi, registration(vm_id, role, token)).startswith(b"HTTP/1.1 201 ")


def beat(vm_id: str, token: str | None, rid: str | None = None, extra: bytes = b"") -> bytes:
    return request("POST", f"/registry/vms/{vm_id}/heartbeat", token, rid, extra)


CASES = [
    ("health", request("GET", "/health", rid="fp-health")),
    ("health, wrong token", request("GET", "/health", "wrong-secret", rid="fp-health-2")),
    ("health, generated id", request("GET", "/health")),
    ("health, insane id", request("GET", "/health", rid="not sane!")),
    ("heartbeat", beat("vm-a", "boss-secret", "fp-hb")),
    ("heartbeat, agent", beat("vm-d", "bot-secret", "fp-hb2")),
    ("heartbeat, length 0", beat("vm-a", "boss-secret", "fp-hb3", b"Content-Length: 0\r\n")),
    ("heartbeat, other agent's", beat("vm-a", "bot-secret", "fp-403")),
    ("heartbeat, read only", beat("vm-a", "read-secret")),
    ("heartbeat, unknown VM", beat("nowhere", "boss-secret", "fp-404")),
    ("heartbeat, no token", beat("vm-a", None, "fp-401")),
    ("heartbeat, wrong token", beat("vm-a", "nope-nope")),
    ("one VM", request("GET", "/registry/vms/vm-a", "read-secret", "fp-vm")),
    ("one VM, unknown", request("GET", "/registry/vms/nowhere", "read-secret", "fp-vm-404")),
    ("discover", request("GET", "/registry/discover/lieutenant", "read-secret", "fp-disc")),
    ("discover, nobody", request("GET", "/registry/discover/custom", "read-secret")),
    ("discover, bad role", request("GET", "/registry/discover/bogus", "read-secret", "fp-400")),
    ("the list", request("GET", "/registry/vms", "read-secret", "fp-list")),
    ("HTTP/1.0", request("GET", "/health", rid="fp-10", version=b"1.0")),
    (
        "Connection: close",
        request("GET", "/registry/vms/vm-c", "boss-secret", "fp-close", b"Connection: close\r\n"),
    ),
]


@pytest.mark.parametrize(("case", "data"), CASES, ids=[case for case, _ in CASES])
def test_each_answer_is_the_apps(
    fleet: None, fast: ServerProcess, asgi: ServerProcess, case: str, data: bytes
) -> None:
    answer = both(fast, asgi, data)
    assert answer.startswith(b"HTTP/1.1 "), answer
    if b"Connection: close" in data or b"HTTP/1.0" in data:
        assert b"\r\nconnection: close\r\n" in answer


def test_pipelined_answers_come_in_order(
    fleet: None, fast: ServerProcess, asgi: ServerProcess
) -> None:
    # Answered by the protocol, by the app (a query string, HEAD), by the protocol again
    # behind a heartbeat still committing, then closed by the last.
    requests = [
        request("GET", "/health", rid="pipe-1"),
        request("POST", "/registry/vms/vm-a/heartbeat", "boss-secret", "pipe-2"),
        request("GET", "/registry/vms?role=worker", "read-secret", "pipe-3"),
        request("POST", "/registry/vms/vm-c/heartbeat", "boss-secret", "pipe-4"),
        request("HEAD", "/health", rid="pipe-5"),
        request("GET", "/registry/vms/vm-a", "read-secret", "pipe-6"),
        request("POST", "/registry/vms/nowhere/heartbeat", "boss-secret", "pipe-7"),
        request("GET", "/health", rid="pipe-8", extra=b"Connection: close\r\n"),
    ]
    answer = both(fast, asgi, b"".join(requests), answers=len(requests))
    echoed = re.findall(rb"\r\nx-request-id: (pipe-\d)\r\n", answer)
    assert echoed == [b"pipe-%d" % n for n in range(1, 9)]


def log_line(server: ServerProcess, rid: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        lines = (orjson.loads(text) for text in server.output().splitlines())
        return [
            line
            for line in lines
            if line["logger"] == "vm_registry.request" and line.get("requestId") == rid
        ]

    wait_for(lambda: len(found()) == 1)
    (line,) = found()
    return {k: v for k, v in line.items() if k not in ("time", "durationMs")}


@pytest.mark.parametrize(
    "rid", ["fp-health", "fp-hb", "fp-hb2", "fp-403", "fp-404", "fp-401", "fp-vm", "fp-400"]
)
def test_each_request_log_line_is_the_apps(
    fleet: None, fast: ServerProcess, asgi: ServerProcess, rid: str
) -> None:
    data = next(data for _, data in CASES if b"X-Request-ID: %s\r\n" % rid.encode() in data)
    both(fast, asgi, data.replace(rid.encode(), f"{rid}-log".encode()))
    line = log_line(fast, f"{rid}-log")
    assert line == log_line(asgi, f"{rid}-log")
    assert line["message"] == f"{line['method']} {line['route']} {line['status']}"


def http_counts(samples: Samples) -> dict[Any, float]:
    counted = ("vm_registry_http_requests_total", "vm_registry_http_request_duration_seconds_count")
    return {
        key: value
        for key, value in samples.items()
        if key[0] in counted and ("route", "/metrics") not in key[1]
    }


@pytest.fixture(scope="module")
def scraper(fast: ServerProcess, asgi: ServerProcess) -> Iterator[tuple[httpx.Client, ...]]:
    headers = {"Authorization": "Bearer read-secret"}
    with (
        httpx.Client(base_url=fast.url, headers=headers) as one,
        httpx.Client(base_url=asgi.url, headers=headers) as other,
    ):
        yield one, other


def grown_by_cases(
    fast: ServerProcess,
    asgi: ServerProcess,
    scraper: tuple[httpx.Client, ...],
    counts: Callable[[Samples], dict[Any, float]],
) -> list[dict[Any, float]]:
    """What each server's `counts` grew by while both answered every case."""
    before = [counts(scrape(client)) for client in scraper]
    for _, data in CASES:
        both(fast, asgi, data)
    after = [counts(scrape(client)) for client in scraper]
    return [
        {key: value - then.get(key, 0.0) for key, value in now.items() if value != then.get(key)}
        for then, now in zip(before, after, strict=True)
    ]


def test_the_http_metrics_count_the_same(
    fleet: None, fast: ServerProcess, asgi: ServerProcess, scraper: tuple[httpx.Client, ...]
) -> None:
    grown = grown_by_cases(fast, asgi, scraper, http_counts)
    assert grown[0] == grown[1]
    health = ("vm_registry_http_requests_total",
              frozenset({("route", "/health"), ("method", "GET"), ("status", "200")}))  # fmt: skip
    assert grown[0][health] == sum(1 for _, data in CASES if data.startswith(b"GET /health "))


def writer_counts(samples: Samples) -> dict[Any, float]:
    counted = (
        "vm_registry_writer_commands_submitted_total",
        "vm_registry_writer_commands_refused_total",
    )
    return {key: value for key, value in samples.items() if key[0] in counted}


def test_the_writer_counts_the_same_heartbeats_and_refusals(
    fleet: None, fast: ServerProcess, asgi: ServerProcess, scraper: tuple[httpx.Client, ...]
) -> None:
    # The fast path hands a heartbeat to the writer without a coroutine (`submit_soon`): what
    # the writer's metrics count of it, refusals included, is what `submit` counts.
    grown = grown_by_cases(fast, asgi, scraper, writer_counts)
    assert grown[0] == grown[1]
    refused = {
        dict(key[1])["reason"]: value for key, value in grown[0].items() if "refused" in key[0]
    }
    assert refused == {"not_found": 1.0, "forbidden": 1.0}
