"""The hot routes' plain requests, answered by the HTTP protocol itself (`cli/fast_path.py`),
below ASGI: no scope, no request cycle, no ASGI messages, no layers of send wrappers.

The lean path (`api/lean.py`) had taken litestar's per-request machinery off these requests;
what was left of their CPU was mostly uvicorn's (its scope, its `RequestResponseCycle` and
task, the `send` of each ASGI message) and the ASGI plumbing around the lean twins
(docs/benchmarks.md, "What limits P1, P2 and P15"). Here the protocol hands over what it parsed
(method, path, headers, client) and gets back the status, the complete headers and the body,
which it writes in one piece.

Nothing is decided twice. The request is matched by litestar's router and the lean path's own
test of a plain request (`lean.plain`); the principal comes from the same `auth.Guard`, a
refusal is the same 401 (`auth.refusal`); the answer is the lean twin's, its errors rendered by
the same table (`lean.failed`); the request id, the echo, the security headers, the metrics and
the log line are `api/request_log.py`'s. So an answer is the same bytes whichever path gives it,
and `tests/api/test_fast_path.py` holds them equal against a server with the path off
(`--no-fast-path`).

`Wire.match` says at the end of a request's head whether it is one of these; the protocol
decides the rest (no body, nothing unusual in the head, nothing else in flight on the
connection). An `Exchange` then answers it: `now()` for every route but the heartbeat, which
waits for its durable commit: `soon()` hands it to the writer and `after()` answers from its
outcome, in a callback with no task or chain of awaits per heartbeat (`later()`, a coroutine,
when the writer's queue is full); `done()` counts and logs it once it is written.
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from litestar import Litestar

from vm_registry.api import hot, lean
from vm_registry.api.auth import Guard, Principal, refusal
from vm_registry.api.hot import Answer
from vm_registry.api.request_log import HEADER, Done, answer_headers, record, request_id
from vm_registry.api.resources import of_app
from vm_registry.domain.outcome import Outcome
from vm_registry.telemetry.context import REQUEST_ID

# The key in the app's state; absent when the fast path is off.
KEY = "wire"

Headers = list[tuple[bytes, bytes]]


class Matched(NamedTuple):
    twin: str  # a name in lean.BODYLESS
    params: lean.Params
    template: str  # the route's template: the log's and the metrics' label


class Reply(NamedTuple):
    status: int
    headers: Headers  # complete, in the order they are written
    body: bytes


class Wire:
    def __init__(self, app: Litestar, guard: Guard) -> None:
        self.route = app.asgi_router.handle_routing
        self.cors = app.cors_config is not None
        self.resources = of_app(app)
        self.metrics = self.resources.telemetry.http
        self.guard = guard

    def match(self, method: str, path: str, headers: Headers) -> Matched | None:
        """The hot route a request with no query string is, if the lean path would answer it."""
        if not lean.plain(method, path, headers, self.cors):
            return None
        try:
            _, handler, _, params, template = self.route(path, method)
        except Exception:  # no such route or method: the app answers it, as it always has
            return None
        name = handler.opt.get(lean.LEAN, "")
        # A registration with an empty body is still the app's: it reads and refuses bodies.
        return Matched(name, params, template) if name in lean.BODYLESS else None


def attach(app: Litestar, guard: Guard) -> None:
    app.state[KEY] = Wire(app, guard)


def of(app: object) -> Wire | None:
    """The app's fast path, if it is our app and the path is on."""
    if not isinstance(app, Litestar):
        return None
    found: Wire | None = app.state.get(KEY)
    return found


class Exchange:
    """One request the protocol answers, from the end of its head to its log line. Each step
    sets the request id for what it logs (the writer reads it too, when the heartbeat is
    submitted)."""

    __slots__ = (
        "client", "first", "headers", "matched", "method", "path", "principal", "rid", "started",
        "wire",
    )  # fmt: skip

    def __init__(
        self,
        wire: Wire,
        matched: Matched,
        method: str,
        path: str,
        headers: Headers,
        client: tuple[str, int] | None,
    ) -> None:
        self.started = time.perf_counter()
        self.wire = wire
        self.matched = matched
        self.method = method
        self.path = path
        self.headers = headers
        self.client = client
        self.rid = request_id(headers)
        self.principal: Principal | None = None
        self.first: float | None = None

    def now(self) -> Reply | None:
        """The answer, or None for a request that must wait for it (`later`)."""
        token = REQUEST_ID.set(self.rid)
        try:
            who = self.wire.guard.who(self.path, self.headers)
            if isinstance(who, str):
                return self._reply(*refusal(who))
            self.principal = who
            twin = self.matched.twin
            if twin == lean.HEARTBEAT:
                return None
            try:
                answer = lean.NOW[twin](self.wire.resources, self.matched.params)
            except Exception as exc:
                answer = lean.failed(self.method, self.path, exc)
            return self._answered(answer)
        finally:
            REQUEST_ID.reset(token)

    def soon(self) -> asyncio.Future[Outcome] | None:
        """A heartbeat `now()` left waiting, handed to the writer: the future of its outcome,
        for `after`. None when the writer's queue is full: then `later`, which waits for room."""
        token = REQUEST_ID.set(self.rid)  # the writer reads it as the command is submitted
        try:
            assert self.principal is not None
            return lean.heartbeat_soon(
                self.wire.resources, self.matched.params, self.principal, self.headers, self.client
            )
        except Exception as exc:  # refused before it reached the writer (a read-only token)
            failed: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        finally:
            REQUEST_ID.reset(token)

    def after(self, outcome: asyncio.Future[Outcome]) -> Reply:
        """The answer to a heartbeat whose future (`soon`) is done."""
        token = REQUEST_ID.set(self.rid)
        try:
            try:
                answer = hot.heartbeat_answer(
                    self.wire.resources.runtime, self.matched.params["vm_id"], outcome.result()
                )
            except Exception as exc:
                answer = lean.failed(self.method, self.path, exc)
            return self._answered(answer)
        finally:
            REQUEST_ID.reset(token)

    async def later(self) -> Reply:
        token = REQUEST_ID.set(self.rid)
        try:
            assert self.principal is not None
            try:
                answer = await lean.heartbeat(
                    self.wire.resources,
                    self.matched.params,
                    self.principal,
                    self.headers,
                    self.client,
                )
            except Exception as exc:
                answer = lean.failed(self.method, self.path, exc)
            return self._answered(answer)
        finally:
            REQUEST_ID.reset(token)

    def done(self, reply: Reply) -> None:
        """Counted and logged, as the outer ASGI layer does once an answer is sent."""
        token = REQUEST_ID.set(self.rid)
        try:
            route, status, sent = self.matched.template, reply.status, len(reply.body)
            done = Done(route, self.method, self.path, self.principal, status, self.first, sent)
            record(self.wire.metrics, done, time.perf_counter() - self.started)
        finally:
            REQUEST_ID.reset(token)

    def _answered(self, answer: Answer) -> Reply:
        status, body, headers = lean.typed(answer)
        return self._reply(status, headers, body)

    def _reply(self, status: int, headers: Headers, body: bytes) -> Reply:
        self.first = time.perf_counter() - self.started
        return Reply(status, answer_headers(headers, (HEADER, self.rid.encode())), body)
