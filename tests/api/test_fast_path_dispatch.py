"""Which requests the HTTP protocol answers itself (cli/fast_path.py), and which it hands to the
app: the hot routes' plain requests, alone on their connection, and nothing else.

The server here runs in the test's own event loop (the app, uvicorn's protocol with our bounds,
a real loopback socket), so the app's ASGI entry can be watched: a request the protocol
answers never reaches it. That the two paths answer alike is tests/api/test_fast_path.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.hostile.raw_http import split_answers
from vm_registry.api.app import create_app
from vm_registry.cli.uvicorn_server import bounded_protocol
from vm_registry.service.runtime import Runtime
from vm_registry.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")

TOKEN = b"Authorization: Bearer boss-secret\r\n"


class Served:
    def __init__(self, port: int, seen: list[str]) -> None:
        self.port = port
        self.seen = seen  # the paths the app was called with, in order

    async def talk(self, data: bytes, answers: int = 1) -> list[Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(data)
        got = b""
        try:
            while True:
                try:
                    if len(found := split_answers(got)) >= answers:
                        return found
                except (AssertionError, KeyError):
                    pass
                chunk = await asyncio.wait_for(reader.read(65536), 30)
                assert chunk, got
                got += chunk
        finally:
            writer.close()


@asynccontextmanager
async def served(tmp_path: Path, fast_path: bool = True) -> AsyncIterator[Served]:
    settings = Settings(
        db=str(tmp_path / "registry.db"), tokens_env="boss:admin:boss-secret", fast_path=fast_path
    )
    app = create_app(Runtime(settings))
    seen: list[str] = []
    inner = app.asgi_handler

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["method"] + " " + scope["path"])
        await inner(scope, receive, send)

    app.asgi_handler = watched
    # As `serve` runs it: without uvicorn's access log (the protocol leaves its requests to it).
    config = uvicorn.Config(
        app, http=bounded_protocol(10.0), lifespan="off", log_config=None, access_log=False
    )
    config.load()
    state = ServerState()
    protocol = config.http_protocol_class
    async with app.lifespan():
        server = await asyncio.get_running_loop().create_server(
            lambda: protocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
        )
        async with server:
            port = server.sockets[0].getsockname()[1]
            served = Served(port, seen)
            body = {"id": "vm-a", "name": "a", "role": "worker", "address": "a.vm.vers.sh"}
            body["registeredBy"] = "test"
            data = orjson.dumps(body)
            head = b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % len(data)
            head += b"Content-Type: application/json\r\n"
            [(status, _, answer)] = await served.talk(head + TOKEN + b"\r\n" + data)
            assert status == 201, answer
            seen.clear()
            yield served


def get(path: str, extra: bytes = b"", method: bytes = b"GET") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n" % (method, path.encode(), TOKEN, extra)


HEARTBEAT = "/registry/vms/vm-a/heartbeat"
TAKEN = [
    get("/health"),
    get("/registry/vms/vm-a"),
    get("/registry/vms/nowhere"),
    get("/registry/discover/worker"),
    get("/registry/vms"),
    get(HEARTBEAT, method=b"POST"),
    get(HEARTBEAT, b"Content-Length: 0\r\n", method=b"POST"),
    get("/health", b"Connection: close\r\n"),
    get("/health", b"X-Request-ID: some-id\r\n"),
]
HANDED_ON = [
    get("/health?verbose=1"),
    get("/health", method=b"HEAD"),
    get("/health/"),
    get("/registry/vms/vm%2Da"),
    get("/registry/vms/vm-a", b"X-Registry-Min-Revision: 1\r\n"),
    get("/registry/vms/vm-a", b"X-Forwarded-For: 10.1.2.3\r\n"),
    get("/registry/vms/vm-a", b"Content-Length: 2\r\n") + b"{}",
    get(HEARTBEAT, b"Content-Length: 2\r\n", method=b"POST") + b"{}",
    get(HEARTBEAT, b"Transfer-Encoding: chunked\r\n", method=b"POST") + b"0\r\n\r\n",
    get(HEARTBEAT, b"Expect: 100-continue\r\n", method=b"POST"),
    get("/registry/vms", b"Content-Length: 2\r\n", method=b"POST") + b"{}",
    get("/metrics"),
]


@pytest.mark.parametrize("data", TAKEN, ids=[d.split(b"\r\n")[0].decode() for d in TAKEN])
async def test_the_protocol_answers_the_hot_plain_requests(tmp_path: Path, data: bytes) -> None:
    async with served(tmp_path) as server:
        [(status, headers, _)] = await server.talk(data)
        assert status in (200, 404)
        assert "x-request-id" in headers
        assert server.seen == []


@pytest.mark.parametrize("data", HANDED_ON, ids=[d.split(b"\r\n")[0].decode() for d in HANDED_ON])
async def test_anything_else_goes_to_the_app(tmp_path: Path, data: bytes) -> None:
    async with served(tmp_path) as server:
        await server.talk(data)
        assert len(server.seen) == 1


async def test_a_request_behind_one_in_flight_goes_to_the_app_in_order(tmp_path: Path) -> None:
    # The heartbeat waits for its commit, so the /health read in the same packet finds it in
    # flight: uvicorn queues it, and its answer follows the heartbeat's.
    data = get(HEARTBEAT, b"X-Request-ID: first\r\n", method=b"POST") + get(
        "/health", b"X-Request-ID: second\r\n"
    )
    async with served(tmp_path) as server:
        answers = await server.talk(data, answers=2)
        assert [headers["x-request-id"] for _, headers, _ in answers] == ["first", "second"]
        assert server.seen == ["GET /health"]


async def test_with_the_fast_path_off_the_app_answers_everything(tmp_path: Path) -> None:
    async with served(tmp_path, fast_path=False) as server:
        await server.talk(get("/health"))
        await server.talk(get(HEARTBEAT, method=b"POST"))
        assert server.seen == ["GET /health", "POST " + HEARTBEAT]
