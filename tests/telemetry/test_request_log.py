"""The server's log, read as an operator's log shipper would: one JSON object a line, one line
per request with its id, and never a token, an Authorization header or a body."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pexpect
import pytest

from tests.api.conftest import new_id
from tests.conftest import vm
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess, free_port
from tests.telemetry.scrape import wait_for

ADMIN = "log-test-admin-secret"
SCOPED = {"fleet": "log-test-agent-secret", "dash": "log-test-read-secret"}
WRONG = "log-test-wrong-guess"
BODY_MARKER = "body-marker-8d1f"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


# No --log-format: the log goes to a file, so JSON is the default.
server = server_fixture(
    "logs",
    "--log-level",
    "debug",
    env={
        "VERS_AUTH_TOKEN": ADMIN,
        "VM_REGISTRY_TOKENS": f"fleet:agent:{SCOPED['fleet']};dash:read:{SCOPED['dash']}",
    },
)


http = http_fixture()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def lines(server: ServerProcess) -> list[dict[str, Any]]:
    parsed = []
    for text in server.output().splitlines():
        line = orjson.loads(text)  # every line is one JSON object
        assert isinstance(line, dict), text
        parsed.append(line)
    return parsed


def request_line(server: ServerProcess, request_id: str) -> dict[str, Any]:
    """The request's line; it is written once the response is out, so it may lag a moment."""

    def found() -> list[dict[str, Any]]:
        return [
            line
            for line in lines(server)
            if line["logger"] == "vm_registry.request" and line.get("requestId") == request_id
        ]

    wait_for(lambda: bool(found()))
    (line,) = found()
    return line


def test_a_sane_request_id_is_echoed_and_logged_with_the_request(
    server: ServerProcess, http: httpx.Client
) -> None:
    rid = f"req-{new_id()}"
    vm_id = new_id()
    answer = http.post(
        "/registry/vms", json=vm(vm_id), headers={**bearer(SCOPED["fleet"]), "X-Request-ID": rid}
    )
    assert answer.status_code == 201
    assert answer.headers["x-request-id"] == rid
    line = request_line(server, rid)
    assert line["level"] == "INFO"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
    assert line["method"] == "POST"
    assert line["route"] == "/registry/vms"
    assert line["status"] == 201
    assert line["actor"] == "fleet"  # the token's name
    assert line["bytes"] == len(answer.content)
    assert line["durationMs"] >= 0
    # The writer's own line about the batch that committed it names the request too.
    writer = [x for x in lines(server) if x["logger"] == "vm_registry.writer"]
    assert any(rid in x.get("requestId", "").split(",") for x in writer), writer


@pytest.mark.parametrize("bad", ["has spaces in it", "x" * 129, "semi;colon", 'quote"d'])
def test_an_insane_request_id_is_replaced_by_a_generated_one(
    server: ServerProcess, http: httpx.Client, bad: str
) -> None:
    answer = http.get("/registry/vms", headers={**bearer(ADMIN), "X-Request-ID": bad})
    assert answer.status_code == 200
    generated = answer.headers["x-request-id"]
    assert GENERATED_ID.match(generated)
    assert request_line(server, generated)["route"] == "/registry/vms"
    assert bad not in server.output()


def test_without_a_request_id_one_is_generated_for_every_answer_errors_included(
    server: ServerProcess, http: httpx.Client
) -> None:
    answers = [
        http.get("/registry/vms", headers=bearer(ADMIN)),
        http.get("/registry/vms"),  # 401 from the auth middleware
        http.get("/nowhere", headers=bearer(ADMIN)),  # 404 from the router
        http.get(f"/registry/vms/{new_id()}", headers=bearer(SCOPED["dash"])),  # 404 in a route
    ]
    ids = [a.headers["x-request-id"] for a in answers]
    assert len(set(ids)) == 4
    got = [request_line(server, rid) for rid in ids]
    assert [(x["status"], x["route"]) for x in got] == [
        (200, "/registry/vms"),
        (401, "/registry/vms"),
        (404, "unmatched"),
        (404, "/registry/vms/{vm_id}"),
    ]
    # The router answers an unknown path before authentication: no actor is known then.
    assert [x["actor"] for x in got] == ["admin", None, None, "dash"]


def test_no_token_authorization_header_or_body_ever_reaches_the_log(
    server: ServerProcess, http: httpx.Client
) -> None:
    secret_body = vm(new_id(), metadata={"note": BODY_MARKER}, name=f"name-{BODY_MARKER}")
    assert http.post("/registry/vms", json=secret_body, headers=bearer(ADMIN)).status_code == 201
    vm_id = str(secret_body["id"])
    patch = {"metadata": {"note": BODY_MARKER + "-patched"}}
    assert http.patch(f"/registry/vms/{vm_id}", json=patch, headers=bearer(ADMIN)).is_success
    assert http.get("/registry/vms", headers=bearer(WRONG)).status_code == 401
    assert http.get("/registry/vms", headers={"Authorization": WRONG}).status_code == 401
    assert (
        http.post("/registry/vms", json=vm(new_id()), headers=bearer(SCOPED["dash"])).status_code
        == 403
    )
    assert http.get("/metrics", headers=bearer(SCOPED["dash"])).status_code == 200
    with http.stream("GET", "/registry/stream", params={"after": 0}, headers=bearer(ADMIN)) as s:
        for line in s.iter_lines():
            if line.startswith("id: "):
                break
    # Request lines are written once the answer is out: judge the log once the last is in.
    last = http.get("/health", headers={"X-Request-ID": f"last-{vm_id}"})
    request_line(server, last.headers["x-request-id"])
    log = server.output()
    assert "vm_registry.request" in log  # the log is there, and holds request lines
    for secret in (ADMIN, *SCOPED.values(), WRONG):
        assert secret not in log, f"a token is in the server log: {secret}"
    assert "Bearer" not in log and "authorization" not in log.lower()
    assert BODY_MARKER not in log, "a request body reached the server log"


def test_text_format_says_the_same_for_a_person(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "registry.db", args=["--log-format", "text"]).start()
    try:
        answer = httpx.get(f"{server.url}/registry/vms", headers={"X-Request-ID": "text-1"})
        assert answer.status_code == 200
        wait_for(lambda: "[text-1]" in server.output())
        (line,) = [x for x in server.output().splitlines() if "[text-1]" in x]
        assert " INFO vm_registry.request [text-1] GET /registry/vms 200 " in line
        assert "path=/registry/vms" in line and "actor=anonymous" in line
        assert f"bytes={len(answer.content)}" in line
        assert not server.output().lstrip().startswith("{")
        forged = "/x%0A2026-01-01T00:00:00.000Z INFO vm_registry.request [forged] GET / 200"
        assert httpx.get(f"{server.url}{forged}").status_code == 404
        wait_for(lambda: "/x\\n2026" in server.output())
        assert not [x for x in server.output().splitlines() if x.startswith("2026-01-01")]
    finally:
        server.kill()


def test_log_level_warning_leaves_out_request_lines(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "registry.db", args=["--log-level", "warning"]).start()
    try:
        answer = httpx.get(f"{server.url}/registry/vms")
        assert answer.status_code == 200
        server.stop()
        assert "vm_registry.request" not in server.output()
        assert "VERS_AUTH_TOKEN is not set" in server.output()  # warnings still are
    finally:
        server.kill()


def test_on_a_terminal_the_default_format_is_text(tmp_path: Path) -> None:
    port = free_port()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "vm_registry.cli.main", "serve", "--port", str(port), "--db",
         str(tmp_path / "registry.db")],
        env={k: v for k, v in os.environ.items() if not k.startswith("VERS_")},
        encoding="utf-8",
    )  # fmt: skip
    try:
        child.expect("listening on", timeout=30)
        assert "{" not in child.before
        assert re.search(r"Z INFO uvicorn\.error Started server process", child.before)
    finally:
        child.terminate(force=True)
