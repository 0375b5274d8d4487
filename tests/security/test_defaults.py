"""Secure defaults: loopback only, no CORS unless configured, security headers on JSON, HTML and
error responses, and never a stack trace in a response."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import vm
from tests.security.conftest import ALLOWED_ORIGIN, bearer
from tests.support.server import ServerProcess

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("defaults") / "registry.db").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def http(open_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server.url, timeout=10) as client:
        yield client


def assert_secured(answer: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, f"{answer.request.url}: {name} missing"
    assert answer.headers.get("cache-control") in ("no-store", "no-cache")


def test_it_listens_on_loopback_and_warns_that_it_is_open(open_server: ServerProcess) -> None:
    output = open_server.output()
    assert f"listening on http://127.0.0.1:{open_server.port}" in output
    assert "VERS_AUTH_TOKEN is not set" in output


def test_no_cors_unless_configured(http: httpx.Client) -> None:
    origin = {"Origin": "https://anywhere.example"}
    simple = http.get("/registry/vms", headers=origin)
    preflight = http.options("/registry/vms", headers=origin | PREFLIGHT)
    for answer in (simple, preflight):
        assert not [h for h in answer.headers if h.startswith("access-control-")], answer.headers


def test_cors_only_for_the_configured_origin(guarded: ServerProcess) -> None:
    with httpx.Client(base_url=guarded.url, timeout=10) as http:
        allowed = http.options("/registry/vms", headers={"Origin": ALLOWED_ORIGIN} | PREFLIGHT)
        assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = {"Origin": "https://evil.example"}
        for answer in (
            http.options("/registry/vms", headers=other | PREFLIGHT),
            http.get("/registry/vms", headers=other | bearer("dash")),
        ):
            assert "access-control-allow-origin" not in answer.headers


def test_security_headers_on_json_html_stream_and_errors(
    http: httpx.Client, guarded: ServerProcess
) -> None:
    assert http.post("/registry/vms", json=vm("headers")).status_code == 201
    answers = [
        http.get("/registry/vms"),
        http.get("/health"),
        http.get("/schema"),  # HTML
        http.post("/registry/vms", content=b"{"),  # 400
        http.get("/registry/vms/absent"),  # 404 from the registry
        http.post("/registry/vms", json=vm("headers")),  # 409
        http.patch("/registry/vms/headers", json={"name": "x"}, headers={"If-Match": '"1000"'}),
        http.post("/registry/vms", content=b"x" * (2 * 1024 * 1024)),  # 413
        http.get("/registry/stream?after=99999"),  # 400 before the stream opens
    ]
    with httpx.Client(base_url=guarded.url, timeout=10) as guarded_http:
        answers.append(guarded_http.get("/registry/vms"))  # 401
        answers.append(guarded_http.post("/registry/vms", json=vm("h"), headers=bearer("dash")))
    assert {a.status_code for a in answers} == {200, 400, 401, 403, 404, 409, 412, 413}
    for answer in answers:
        assert_secured(answer)
    with http.stream("GET", "/registry/stream") as stream:
        assert stream.status_code == 200
        assert_secured(stream)


def test_security_headers_on_the_routers_own_answers(http: httpx.Client) -> None:
    for answer in (http.get("/no/such/route"), http.put("/registry/vms")):
        assert answer.status_code in (404, 405)
        assert_secured(answer)


HOSTILE = [
    ("POST", "/registry/vms", b"{"),
    ("POST", "/registry/vms", b"[]"),
    ("POST", "/registry/vms", b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("PATCH", "/registry/vms/%00", b"null"),
    ("GET", "/registry/events?since=yesterday", b""),
    ("GET", "/registry/stream?after=-1", b""),
    ("DELETE", "/registry/vms/x?y", b""),
    ("GET", "/no/such/route", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE)
def test_errors_are_one_line_of_json_without_a_stack_trace(
    http: httpx.Client, method: str, path: str, body: bytes
) -> None:
    answer = http.request(method, path, content=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()
    assert set(error) == {"error"} and isinstance(error["error"], str)
    for telltale in ("Traceback", 'File "', "site-packages", ".py", "litestar"):
        assert telltale not in answer.text
