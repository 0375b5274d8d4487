"""The lean path (api/lean.py) answers the hot routes' plain requests with the very bytes the
litestar handlers give: status, headers in order, JSON, ETag and X-Registry-Revision.

Two apps, one with the lean path and one without (`create_app(lean_routes=False)`), each on a
fresh SQLite log, get the same requests in the same order; their answers must be equal but for
the request id and the timestamps (two apps cannot share a clock). The requests cover every
lean route, their errors (404, 400, 403 for a read-only token, 401 without or with a wrong
token), and forms that must fall through to litestar (a query string, HEAD, a trailing slash).
Registrations carry bodies: good, duplicate, malformed, over either limit, announced or not.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from litestar import Litestar

from vm_registry.api.app import create_app
from vm_registry.service.runtime import Runtime
from vm_registry.settings import Settings

TOKENS = "boss:admin:boss-secret;reader:read:read-secret;bot:agent:bot-secret"
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

Exchange = tuple[int, list[tuple[bytes, bytes]], bytes]


async def call(
    app: Litestar,
    method: str,
    path: str,
    token: str | None,
    body: bytes,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> Exchange:
    raw_path, _, query = path.partition("?")
    headers = [(b"host", b"registry.test"), (b"user-agent", b"lean-test/1"), *extra]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
        "query_string": query.encode(), "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 3000), "state": {},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, *rest = sent
    kept = [(k, TIMESTAMP.sub(b"<t>", v)) for k, v in start["headers"] if k != b"x-request-id"]
    content = b"".join(m.get("body", b"") for m in rest)
    return start["status"], kept, TIMESTAMP.sub(b"<t>", content)


@asynccontextmanager
async def two_apps(tmp_path: Path) -> AsyncIterator[tuple[Litestar, Litestar]]:
    built = []
    async with AsyncExitStack() as stack:
        for name, lean in (("lean", True), ("full", False)):
            settings = Settings(db=str(tmp_path / f"{name}.db"), tokens_env=TOKENS)
            app = create_app(Runtime(settings), lean_routes=lean)
            await stack.enter_async_context(app.lifespan())
            built.append(app)
        yield built[0], built[1]


def registration(vm_id: str, role: str) -> bytes:
    body = {"id": vm_id, "name": vm_id, "role": role, "address": f"{vm_id}.vm.vers.sh"}
    return orjson.dumps({**body, "registeredBy": "test", "metadata": {"k": "v"}})


SETUP = [
    ("POST", "/registry/vms", "boss-secret", registration("vm-a", "lieutenant")),
    ("POST", "/registry/vms", "bot-secret", registration("vm-b", "worker")),
    ("POST", "/registry/vms", "boss-secret", registration("vm-c", "lieutenant")),
]
REQUESTS = [
    ("GET", "/health", None),
    ("GET", "/health", "wrong-secret"),
    ("POST", "/registry/vms/vm-a/heartbeat", "boss-secret"),
    ("POST", "/registry/vms/vm-b/heartbeat", "bot-secret"),
    ("POST", "/registry/vms/vm-a/heartbeat", "bot-secret"),  # not the agent's VM: 403
    ("POST", "/registry/vms/vm-a/heartbeat", "read-secret"),  # read-only: 403
    ("POST", "/registry/vms/nowhere/heartbeat", "boss-secret"),  # 404
    ("POST", "/registry/vms/vm-a/heartbeat", None),  # 401 missing
    ("POST", "/registry/vms/vm-a/heartbeat", "wrong-secret"),  # 401 invalid
    ("GET", "/registry/vms/vm-a", "read-secret"),
    ("GET", "/registry/vms/nowhere", "read-secret"),  # 404 with the revision
    ("GET", "/registry/vms/vm-a", None),
    ("GET", "/registry/discover/lieutenant", "read-secret"),
    ("GET", "/registry/discover/custom", "read-secret"),  # nobody: an empty list
    ("GET", "/registry/discover/bogus", "read-secret"),  # 400
    ("GET", "/registry/vms", "read-secret"),
    ("GET", "/registry/vms/", "read-secret"),  # litestar's normalised path
    ("GET", "/registry/vms?role=worker", "read-secret"),  # the full path
    ("GET", "/registry/discover/lieutenant?healthy=true", "read-secret"),
    ("HEAD", "/registry/vms/vm-a", "read-secret"),
    ("GET", "/health", None),
]


def raw_registration(vm_id: str, **changed: Any) -> bytes:
    body = orjson.loads(registration(vm_id, "worker"))
    return orjson.dumps({**body, **changed})


MIB = 1024 * 1024
JSON_TYPE = (b"content-type", b"application/json")
# (token, body, extra headers, the status both apps must give)
REGISTRATIONS: list[tuple[str | None, bytes, tuple[tuple[bytes, bytes], ...], int]] = [
    ("boss-secret", registration("vm-d", "worker"), (JSON_TYPE,), 201),
    ("bot-secret", registration("vm-e", "worker"), (), 201),  # no content-type: as litestar
    ("boss-secret", registration("vm-d", "worker"), (), 409),  # already registered
    ("boss-secret", b'{"id": "vm-f", "name": ', (), 400),  # malformed JSON
    ("boss-secret", b"", (), 400),  # empty
    ("boss-secret", b"[1, 2]", (), 400),  # not an object
    ("boss-secret", b'{"id": "vm-f", "id": "vm-g"}', (), 400),  # duplicate key
    ("boss-secret", b'{"id": "vm-f"}', (), 400),  # missing fields
    ("boss-secret", raw_registration("vm-f", role="Bogus!"), (), 400),  # bad role
    ("boss-secret", raw_registration("vm-f", extra=1), (), 400),  # unknown field
    ("read-secret", registration("vm-f", "worker"), (), 403),  # read-only
    ("read-secret", b"x" * (MIB + 1), (), 403),  # refused before its body is read
    (None, registration("vm-f", "worker"), (), 401),
    ("wrong-secret", registration("vm-f", "worker"), (), 401),
    ("boss-secret", b"x" * (MIB + 1), (), 413),  # over 1 MiB, counted as it arrives
    ("boss-secret", b"{}", ((b"content-length", b"%d" % (MIB + 1)),), 413),  # announced
    ("boss-secret", raw_registration("vm-f", metadata={"k": "v" * 300_000}), (), 413),  # entry
    # litestar reads this length as 5, and the body whole: left to litestar, as it always was
    ("boss-secret", registration("vm-g", "worker"), ((b"content-length", b"+5"),), 201),
    ("boss-secret", registration("vm-h", "worker"), (), 201),  # after the refusals
]


# Building the app in process shows litestar's deprecations of inferred dependencies; they are
# not this test's subject.
pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")


async def test_lean_answers_are_the_litestar_answers(tmp_path: Path) -> None:
    async with two_apps(tmp_path) as (lean, full):
        for method, path, token, body in SETUP:
            for app in (lean, full):
                assert (await call(app, method, path, token, body))[0] == 201
        for method, path, token in REQUESTS:
            got = await call(lean, method, path, token, b"")
            expected = await call(full, method, path, token, b"")
            assert got == expected, (method, path, token)


async def test_lean_registrations_are_the_litestar_registrations(tmp_path: Path) -> None:
    async with two_apps(tmp_path) as (lean, full):
        for token, body, extra, status in REGISTRATIONS:
            path = "/registry/vms"
            got = await call(lean, "POST", path, token, body, extra)
            expected = await call(full, "POST", path, token, body, extra)
            assert got == expected, (token, body[:80], extra)
            assert got[0] == status, (token, body[:80], got[2])
