"""Every error status, each answered as `{"error": "<message>"}`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import new_id, revision
from tests.conftest import vm
from tests.support.answers import error_of
from tests.support.server import ServerProcess

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("GET", "/registry"),
        ("POST", "/registry/vms/a/b/c"),
        ("GET", "/registry/discover"),
    ],
)
def test_unknown_routes_are_404(http: httpx.Client, method: str, path: str) -> None:
    message = error_of(http.request(method, path), 404)
    assert path in message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/registry/vms/{id}"),
        ("PATCH", "/registry/vms/{id}"),
        ("DELETE", "/registry/vms/{id}"),
        ("POST", "/registry/vms/{id}/heartbeat"),
    ],
)
def test_an_unknown_vm_is_404_naming_it(http: httpx.Client, method: str, path: str) -> None:
    vm_id = new_id("ghost")
    before = revision(http)
    body = {"status": "paused"} if method == "PATCH" else None
    message = error_of(http.request(method, path.format(id=vm_id), json=body), 404)
    assert vm_id in message
    assert revision(http) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/registry/vms/x"),
        ("DELETE", "/registry/vms"),
        ("PATCH", "/registry/vms"),
        ("GET", "/registry/vms/x/heartbeat"),
        ("POST", "/registry/discover/infra"),
        ("POST", "/health"),
    ],
)
def test_a_wrong_method_is_405(http: httpx.Client, method: str, path: str) -> None:
    message = error_of(http.request(method, path, json={}), 405)
    assert method in message


def test_registering_a_taken_id_is_409_and_keeps_the_first(http: httpx.Client) -> None:
    vm_id = new_id()
    assert http.post("/registry/vms", json=vm(vm_id, name="first")).status_code == 201
    before = revision(http)
    message = error_of(http.post("/registry/vms", json=vm(vm_id, name="second")), 409)
    assert vm_id in message
    assert http.get(f"/registry/vms/{vm_id}").json()["name"] == "first"
    assert revision(http) == before


def big_json(size: int) -> bytes:
    padding = "x" * size
    return b'{"id": "big", "name": "n", "role": "worker", "address": "a", "registeredBy": "r",' + (
        f'"metadata": {{"pad": "{padding}"}}}}'.encode()
    )


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/registry/vms"), ("PATCH", "/registry/vms/x")]
)
def test_a_body_over_1_mib_is_413(http: httpx.Client, method: str, path: str) -> None:
    before = revision(http)
    body = big_json(MIB)
    assert len(body) > MIB
    message = error_of(
        http.request(method, path, content=body, headers={"content-type": "application/json"}),
        413,
    )
    assert "1 MiB" in message
    assert revision(http) == before


def test_a_streamed_body_over_1_mib_without_a_length_is_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * (64 * 1024)

    before = revision(http)
    error_of(http.post("/registry/vms", content=chunks()), 413)
    assert revision(http) == before


def test_a_body_just_under_1_mib_is_accepted(tmp_path: Path) -> None:
    # The body limit alone: the entry limit (64 KiB by default) is raised past it here.
    server = ServerProcess(tmp_path / "registry.db", args=["--max-entry-bytes", str(2 * MIB)])
    body = big_json(MIB - 300).replace(b'"big"', f'"{new_id()}"'.encode())
    assert len(body) < MIB
    server.start()
    try:
        response = httpx.post(
            f"{server.url}/registry/vms",
            content=body,
            headers={"content-type": "application/json"},
            timeout=10,
        )
    finally:
        server.kill()
    assert response.status_code == 201, response.text[:200]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"id": "x",}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'"vm-1"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ],
)
@pytest.mark.parametrize("path", ["POST /registry/vms", "PATCH /registry/vms/{id}"])
def test_invalid_json_or_a_body_that_is_not_an_object_is_400(
    http: httpx.Client, body: bytes, message: str, path: str
) -> None:
    vm_id = new_id()
    assert http.post("/registry/vms", json=vm(vm_id)).status_code == 201
    before = revision(http)
    method, url = path.split()
    response = http.request(
        method, url.format(id=vm_id), content=body, headers={"content-type": "application/json"}
    )
    assert message in error_of(response, 400)
    assert revision(http) == before


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("role=boss", "role"),
        ("status=sleeping", "status"),
        ("role=worker&status=RUNNING", "status"),
        ("role=worker&role=infra", "role"),
    ],
)
def test_an_unknown_filter_value_is_400(http: httpx.Client, query: str, named: str) -> None:
    assert named in error_of(http.get(f"/registry/vms?{query}"), 400)


def test_discovering_an_unknown_role_is_400(http: httpx.Client) -> None:
    message = error_of(http.get("/registry/discover/wizard"), 400)
    assert "role" in message
    assert "infra, lieutenant, worker, golden, custom" in message


def test_errors_carry_no_stack_trace(http: httpx.Client) -> None:
    response = http.post(
        "/registry/vms", content=b"{", headers={"content-type": "application/json"}
    )
    assert "Traceback" not in error_of(response, 400)
