"""The stack's ceiling: an app that does no work, served the way `vm-registry serve` serves ours.

    python -m ops.bench.ceiling_app --port 8123 --answer answer.json [--litestar /health]

Before calling a figure a limit of the server, the harness measures what the same HTTP server
gives an app with nothing to do, beside ours and the peer (`scenarios/ceilings.py`). The answer
is one our own server gave (`/health`, a heartbeat's), captured by the harness into
`--answer`: the same status, headers and body, so the bytes on the wire match and only the
work behind them differs. A POST's body is read to its end, as any handler must before it
answers, and dropped: nothing is written anywhere.

Two apps:
- bare: a plain ASGI callable that gives that answer to every request, whatever its method or
  path: the least any ASGI app can cost on this server;
- `--litestar PATH`: a litestar app whose one route is an `@asgi` handler at PATH giving the
  same answer, so the router's cost shows beside the bare figure (any other path gets
  litestar's own 404).

The server is uvicorn as `cli/serve.py` configures it: the bounded httptools protocol and its
coalescing transport (`cli/uvicorn_server.py`, imported, so the ceiling follows the real
server), uvloop, one process, no access log, no server header. That protocol's fast path
(`cli/fast_path.py`) only answers for our own app, so every request here goes through ASGI. Keep
the `uvicorn.Config` below in step with `cli/serve.py`'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from litestar import Litestar, asgi

from vm_registry.cli.uvicorn_server import bounded_protocol
from vm_registry.settings import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

# Set per response by the server or recomputed here, never replayed from the capture.
NOT_REPLAYED = frozenset({"date", "server", "content-length", "connection", "transfer-encoding"})


class Answer:
    """The two ASGI messages of one fixed response, built once."""

    def __init__(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        kept = [(k.encode(), v.encode()) for k, v in headers if k.lower() not in NOT_REPLAYED]
        kept.append((b"content-length", str(len(body)).encode()))
        self.start: Message = {"type": "http.response.start", "status": status, "headers": kept}
        self.body: Message = {"type": "http.response.body", "body": body}

    @classmethod
    def load(cls, path: Path) -> Answer:
        raw = orjson.loads(path.read_bytes())
        return cls(raw["status"], [tuple(pair) for pair in raw["headers"]], raw["body"].encode())

    async def give(self, receive: Receive, send: Send) -> None:
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send(self.start)
        await send(self.body)


def bare_app(answer: Answer) -> App:
    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await answer.give(receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    return app


def litestar_app(answer: Answer, path: str) -> Litestar:
    @asgi(path)
    async def handler(scope: Any, receive: Any, send: Any) -> None:
        await answer.give(receive, send)

    return Litestar(route_handlers=[handler], openapi_config=None, logging_config=None)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", type=Path, required=True, help="JSON: status, headers, body")
    parser.add_argument("--litestar", metavar="PATH", help="a litestar @asgi route at PATH")
    args = parser.parse_args(argv)
    answer = Answer.load(args.answer)
    app: Any = litestar_app(answer, args.litestar) if args.litestar else bare_app(answer)
    defaults = Settings()
    config = uvicorn.Config(
        app,
        http=bounded_protocol(defaults.header_timeout, defaults.body_timeout),
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
