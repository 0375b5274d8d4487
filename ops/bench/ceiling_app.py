"""The stack's ceiling: an app that does no work, served the way `vm-registry serve` serves ours.

    python -m ops.bench.ceiling_app --port 8123 --answer answer.json [--litestar /health]
    python -m ops.bench.ceiling_app --port 8123 --answer answer.json --durable scratch.db

Before calling a figure a limit of the server, the harness measures what the same HTTP server
gives an app with nothing to do, beside ours and the peer (`scenarios/ceilings.py`). The answer
is one our own server gave (`/health`, a heartbeat's), captured by the harness into
`--answer`: the same status, headers and body, so the bytes on the wire match and only the
work behind them differs. A POST's body is read to its end, as any handler must before it
answers, and dropped: nothing is written anywhere.

Three apps:
- bare: a plain ASGI callable that gives that answer to every request, whatever its method or
  path: the least any ASGI app can cost on this server;
- `--litestar PATH`: a litestar app whose one route is an `@asgi` handler at PATH giving the
  same answer, so the router's cost shows beside the bare figure (any other path gets
  litestar's own 404);
- `--durable DB`: the bare app, but each POST is durable before it is answered, the least
  a durable write can cost here: it waits on a future while one task takes everything pending
  and, in one trip to aiosqlite's thread, inserts a row per POST in one transaction and
  commits (group commit, as our writer does), then resolves the futures. The file is set up as
  our log sets up its own (WAL, our default `synchronous`, incremental auto-vacuum); the row is
  about a heartbeat event's size. No projection, no feed, no validation, no hash chain, no
  index but the primary key: what remains is the floor of any durable heartbeat on
  Python, aiosqlite and this server.

The server is uvicorn as `cli/serve.py` configures it: the bounded httptools protocol and its
coalescing transport (`cli/uvicorn_server.py`, imported, so the ceiling follows the real
server), uvloop, one process, no access log, no server header. That protocol's fast path
(`cli/fast_path.py`) only answers for our own app, so every request here goes through ASGI. Keep
the `uvicorn.Config` below in step with `cli/serve.py`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
import uvicorn
from litestar import Litestar, asgi

from vm_registry.cli.uvicorn_server import bounded_protocol
from vm_registry.persistence.sqlite.connection_thread import in_thread
from vm_registry.settings import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

# Stands in for what a heartbeat event stores beside its seq, VM and time: type, actor and its
# 32-byte hash. With a bench VM id a row is about 100 bytes, a heartbeat event about 80.
FILLER = bytes(range(64))
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS heartbeats"
    " (seq INTEGER PRIMARY KEY, vm TEXT NOT NULL, at INTEGER NOT NULL, filler BLOB NOT NULL)"
)

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
        await drain(receive)
        await self.send(send)

    async def send(self, send: Send) -> None:
        await send(self.start)
        await send(self.body)


async def drain(receive: Receive) -> None:
    """Read the request's body to its end, as any handler must before it answers."""
    message = await receive()
    while message.get("more_body"):
        message = await receive()


def bare_app(answer: Answer) -> App:
    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await answer.give(receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    return app


class GroupCommit:
    """Requests wait on a future; one task commits all that are pending in one transaction.

    Unbounded here because the load is: wrk's connections each have one request in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[tuple[str, int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        # isolation_level=None: the one trip below says BEGIN and COMMIT itself.
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        defaults = Settings()
        for pragma in (
            "busy_timeout = 2000",
            "auto_vacuum = INCREMENTAL",
            "journal_mode = WAL",
            f"synchronous = {defaults.synchronous.upper()}",
        ):
            await self._conn.execute(f"PRAGMA {pragma}")
        await self._conn.execute(SCHEMA)
        self._task = asyncio.create_task(self._commit_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._conn is not None:
            await self._conn.close()

    async def append(self, vm: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((vm, time.time_ns() // 1000, done))
        self._wake.set()
        await done

    async def _commit_forever(self) -> None:
        assert self._conn is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                await in_thread(self._conn, _insert_and_commit, [(vm, at) for vm, at, _ in batch])
            except Exception as error:  # every caller of the batch learns it, none hangs
                for _, _, done in batch:
                    done.set_exception(error)
            else:
                for _, _, done in batch:
                    done.set_result(None)


def _insert_and_commit(raw: Any, rows: list[tuple[str, int]]) -> None:
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany(
        "INSERT INTO heartbeats (vm, at, filler) VALUES (?, ?, ?)",
        [(vm, at, FILLER) for vm, at in rows],
    )
    raw.execute("COMMIT")


def durable_app(answer: Answer, db: Path) -> App:
    log = GroupCommit(db)

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await drain(receive)
            if scope["method"] == "POST":  # not the harness's readiness polls of /health
                await log.append(vm_of(scope["path"]))
            await answer.send(send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, log)

    return app


def vm_of(path: str) -> str:
    """The id in `/registry/vms/{id}/heartbeat`; any other path is stored whole."""
    parts = path.split("/")
    return parts[3] if len(parts) == 5 else path


def litestar_app(answer: Answer, path: str) -> Litestar:
    @asgi(path)
    async def handler(scope: Any, receive: Any, send: Any) -> None:
        await answer.give(receive, send)

    return Litestar(route_handlers=[handler], openapi_config=None, logging_config=None)


async def _lifespan(receive: Receive, send: Send, log: GroupCommit | None = None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if log is not None:
                await log.open()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if log is not None:
                await log.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", type=Path, required=True, help="JSON: status, headers, body")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--litestar", metavar="PATH", help="a litestar @asgi route at PATH")
    chosen.add_argument("--durable", metavar="DB", type=Path, help="group-commit a row per request")
    args = parser.parse_args(argv)
    answer = Answer.load(args.answer)
    app: Any = bare_app(answer)
    if args.litestar:
        app = litestar_app(answer, args.litestar)
    elif args.durable:
        app = durable_app(answer, args.durable)
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
