"""Hostile input that tests/api (the validation table) and tests/feed (bad resume points) leave
out: nulls in every string slot, `.`/`..` and 10,000-character ids, lossy or odd JSON, huge
numbers in query parameters, and raw paths no well-behaved client sends.

Every answer must be a 4xx `{"error": ...}` (or a success), nothing may be written by a refused
request, and the server must stay healthy.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import vm
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

HUGE = "9" * 30  # past any 64-bit integer


# The entry limit raised to the body limit: the large-body test below is about the head bound,
# not about the entry limit (tests/api/test_memory_bounds.py).
live = server_fixture("hostile", "--max-entry-bytes", "1048576")


@pytest.fixture(scope="module")
def http(live: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.post("/registry/vms", json=vm("target")).status_code == 201
        yield client


def head(http: httpx.Client) -> int:
    value: int = http.get("/health").json()["revision"]
    return value


def refused(answer: httpx.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    message: str = body["error"]
    return message


REGISTRATION_STRINGS = ["id", "name", "role", "status", "address", "registeredBy"]


@pytest.mark.parametrize("field", REGISTRATION_STRINGS)
def test_null_in_a_registration_string_is_400_naming_it(http: httpx.Client, field: str) -> None:
    before = head(http)
    assert field in refused(http.post("/registry/vms", json=vm("nulls", **{field: None})))
    assert head(http) == before


@pytest.mark.parametrize("field", ["name", "port", "healthPath"])
def test_null_in_a_service_field_is_400_naming_it(http: httpx.Client, field: str) -> None:
    service: dict[str, Any] = {"name": "rpc", "port": 3001, "healthPath": "/health"}
    service[field] = None
    message = refused(http.post("/registry/vms", json=vm("nulls", services=[service])))
    assert f"services[0].{field}" in message


@pytest.mark.parametrize("field", ["name", "status", "address"])
def test_null_in_an_update_string_is_400_and_changes_nothing(
    http: httpx.Client, field: str
) -> None:
    before = http.get("/registry/vms/target").json()
    assert field in refused(http.patch("/registry/vms/target", json={field: None}))
    assert http.get("/registry/vms/target").json() == before


@pytest.mark.parametrize("vm_id", [".", "..", " .. ", "x" * 10_000, "next\u0085line", "\u009b"])
def test_ids_that_could_never_be_addressed_are_refused(http: httpx.Client, vm_id: str) -> None:
    before = head(http)
    assert "id" in refused(http.post("/registry/vms", json=vm(vm_id)))
    assert head(http) == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/heartbeat"), ("GET", "/history")],
)
def test_a_10000_character_id_in_the_path_is_a_plain_404(
    http: httpx.Client, method: str, suffix: str
) -> None:
    body = {"name": "x"} if method == "PATCH" else None
    answer = http.request(method, f"/registry/vms/{'x' * 10_000}{suffix}", json=body)
    refused(answer, 404)


RAW_PATHS = [
    "/registry/vms/..",
    "/registry/vms/../vms",
    "/registry/vms/%2e%2e",
    "/registry/vms/%2e%2e/heartbeat",
    "/registry/vms/%00",
    "/registry/vms/%ff%fe",
    "/registry/vms/%",
    "/registry/vms/%zz",
    "/registry/vms/target/../target",
    "//registry//vms//target",
    "/registry/vms/target%2F..%2F..",
    "/registry/events?after=%00",
    "/registry/events?limit=%ff",
    "/registry/vms?role=%00",
]


def raw_get(live: ServerProcess, target: str) -> tuple[int, bytes]:
    """A request line exactly as written: no client normalises or escapes it first."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("target", RAW_PATHS)
def test_raw_paths_never_fail_the_server(live: ServerProcess, target: str) -> None:
    status, body = raw_get(live, target)
    assert status < 500, body
    if status >= 400:
        assert list(json.loads(body)) == ["error"]


QUERIES = [
    f"/registry/events?after={HUGE}",
    f"/registry/events?limit={HUGE}",
    f"/registry/vms/target/history?after={HUGE}",
    f"/registry/vms/target/history?limit={HUGE}",
    f"/registry/vms?at={HUGE}",
    f"/registry/vms/target?at={HUGE}",
    f"/registry/stream?after={HUGE}",
    "/registry/events?after=\u0661\u0662",  # Arabic-Indic digits: isdigit(), but not ASCII
    "/registry/events?limit=0",
    "/registry/events?since=9999-12-31T23:59:59.999Z&until=0001-01-01T00:00:00.000Z",
    "/registry/events?type=vm.registered,,vm.nope",
    "/registry/events?vm=a/b",
    "/registry/vms?asOf=not-a-time",
    "/registry/vms?at=1&asOf=2020-01-01T00:00:00Z",
    "/registry/vms?status=running&status=paused",
    "/registry/stream?types=",
    "/registry/stream?role=boss",
    "/registry/stream?snapshot=maybe",
    "/registry/stream?vm=%00",
]


@pytest.mark.parametrize("query", QUERIES)
def test_bad_or_extreme_query_parameters_are_answered_without_a_5xx(
    http: httpx.Client, query: str
) -> None:
    with http.stream("GET", query) as answer:
        assert answer.status_code < 500, answer.read()
        if answer.status_code >= 400:
            assert list(json.loads(answer.read())) == ["error"]


@pytest.mark.parametrize("value", [HUGE, HUGE + "x", "\u0661", "1 2", "0x10", "1e3", "+1", "1.0"])
def test_a_bad_last_event_id_is_400(http: httpx.Client, value: str) -> None:
    answer = http.get("/registry/stream", headers={"Last-Event-ID": value.encode()})
    refused(answer)


BODIES = {
    "byte order mark": b'\xef\xbb\xbf{"id": "bom"}',
    "utf-16": json.dumps(vm("utf16")).encode("utf-16"),
    "latin-1": '{"id": "caf\u00e9"}'.encode("latin-1"),
    "lone surrogate": b'{"id": "s", "name": "\\ud800"}',
    "NaN": b'{"id": "nan", "metadata": {"x": NaN}}',
    "infinity": b'{"id": "inf", "metadata": {"x": 1e400}}',
    "trailing garbage": json.dumps(vm("trail")).encode() + b" x",
    "two documents": json.dumps(vm("two")).encode() * 2,
    "only whitespace": b" \r\n\t ",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_malformed_json_is_400_and_writes_nothing(http: httpx.Client, body: bytes) -> None:
    before = head(http)
    refused(http.post("/registry/vms", content=body, headers={"content-type": "application/json"}))
    assert head(http) == before


def test_emoji_and_rtl_ids_round_trip_through_every_route(http: httpx.Client) -> None:
    vm_id = "\U0001f680-\u05e2\u05d1\u05e8\u05d9\u05ea-\u0645\u0631\u062d\u0628\u0627-\u200f"
    created = http.post("/registry/vms", json=vm(vm_id, name="\u202bRTL name\u202c \U0001f916"))
    assert created.status_code == 201, created.text
    assert http.get(f"/registry/vms/{vm_id}").json() == created.json()
    assert http.post(f"/registry/vms/{vm_id}/heartbeat").json()["id"] == vm_id
    history = http.get(f"/registry/vms/{vm_id}/history").json()["events"]
    assert [e["vmId"] for e in history] == [vm_id, vm_id]
    assert http.delete(f"/registry/vms/{vm_id}").json()["id"] == vm_id


def test_a_wide_metadata_object_within_the_limit_round_trips(http: httpx.Client) -> None:
    metadata = {f"key-{n}": n for n in range(16_000)}  # 32,001 values: one per 32 bytes
    created = http.post("/registry/vms", json=vm("wide", metadata=metadata))
    assert created.status_code == 201
    assert http.get("/registry/vms/wide").json()["metadata"] == metadata


def test_the_server_is_healthy_after_all_of_it(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "ok"


def test_a_large_body_sent_in_one_write_with_its_headers_is_accepted(live: ServerProcess) -> None:
    for attempt in range(10):
        body = json.dumps(vm(f"one-write-{attempt}", metadata={"notes": "x" * 500_000})).encode()
        request = (
            b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        ) + body
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            sock.sendall(request)  # one write: the server may read headers and body together
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
