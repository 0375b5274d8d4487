"""Around every HTTP request: its id, its line in the log, its HTTP metrics, and the security
headers on its answer (`api/headers.py`). One plain ASGI layer, the outermost of the app, with
one send wrapper for all four: each wrapper is a coroutine call per message, so four layers
would cost more than the four jobs (what each job costs per request is in docs/benchmarks.md,
"What the outer layer costs").

The requests the HTTP protocol answers itself (`api/wire.py`) never pass through this layer;
they get the same id, headers, metrics and line from the pieces below (`request_id`,
`answer_headers`, `record`).

This wraps litestar's whole ASGI handler (the router included), not a route's middleware
stack, so it also sees what the router answers by itself (404, 405) and the auth middleware's
401. The route label is the matched route's template (`/registry/vms/{vm_id}`), never the raw
path, so the metrics' cardinality stays bounded.

The request id comes from `X-Request-ID` when it is sane (1 to 128 characters of letters,
digits and `-_.:`), else it is generated; it is echoed on the response and set in a context
variable that every log line of the request reads, the writer's included.

What is logged: time, request id, method, route, path (never the query string), status,
duration, actor (the token's *name*), bytes sent. Never a header or a body: the token cannot
reach the log through here.

A client that hangs up before its request body is complete (or is cut off in the middle of one
by the server's own 431 or 408) is recorded as 499, "client closed request", as nginx does, with
no latency and no bytes: litestar answers the disconnect with a 500 nobody receives, and
counting that as a 500 would let any client raise the server's error rate at will. A 500 after
a complete body stays a 500.

The latency histogram measures arrival to the response's start. For ordinary routes that is the
whole work (the body follows in the same breath); for the change feed it is the time to open
the stream, while the log line's duration is the stream's whole life.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any, NamedTuple

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from vm_registry.api.auth import Principal
from vm_registry.api.headers import secure
from vm_registry.api.metrics import UNMATCHED, HttpMetrics
from vm_registry.telemetry import log_format
from vm_registry.telemetry.context import REQUEST_ID

log = logging.getLogger("vm_registry.request")

HEADER = b"x-request-id"
SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# nginx's status for a request its client abandoned; no answer carries it on the wire.
CLIENT_CLOSED = 499


def request_id(headers: Any) -> str:
    for name, value in headers:
        if name == HEADER:
            if SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    # Not a secret, only unique: 128 random bits from the fast generator (os.urandom is a
    # system call per request).
    return f"{random.getrandbits(128):032x}"


def observed(app: ASGIApp, metrics: HttpMetrics) -> ASGIApp:
    async def observe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        token = REQUEST_ID.set(rid)
        echo = (HEADER, rid.encode())
        status = 0
        first: float | None = None
        sent = 0
        body_done = False  # the body's last message has been received
        body_cut = False  # the client left before it

        async def observed_receive() -> ReceiveMessage:
            nonlocal body_done, body_cut
            message = await receive()
            if message["type"] == "http.request":
                body_done = body_done or not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and not body_done:
                body_cut = True
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status, first, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                first = time.perf_counter() - started
                message["headers"] = answer_headers([*message.get("headers", ())], echo)
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, observed_receive, observed_send)
        finally:
            route = scope.get("path_template") or UNMATCHED
            method: str = scope["method"]
            code = status or 500  # no response started: the server will answer 500
            if body_cut and code == 500:
                code, first, sent = CLIENT_CLOSED, None, 0
            principal = scope.get("state", {}).get("principal")
            done = Done(route, method, scope["path"], principal, code, first, sent)
            record(metrics, done, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    return observe


def answer_headers(
    headers: list[tuple[bytes, bytes]], echo: tuple[bytes, bytes]
) -> list[tuple[bytes, bytes]]:
    """An answer's headers as they leave: the echoed request id, then the security headers."""
    headers.append(echo)
    secure(headers)
    return headers


class Done(NamedTuple):
    """What the log and the metrics keep of an answered request."""

    route: str
    method: str
    path: str
    principal: Principal | None
    status: int
    first: float | None  # seconds from arrival to the answer's start; None: no answer left
    sent: int  # body bytes


def record(metrics: HttpMetrics, done: Done, seconds: float) -> None:
    """Count the answer and write its line: the same for the ASGI path and for the answers the
    HTTP protocol gives itself (api/wire.py). The request id must still be set."""
    metrics.observe(done.route, done.method, done.status, done.first)
    if log.isEnabledFor(logging.INFO):
        _log_line(done, seconds)


def _log_line(done: Done, seconds: float) -> None:
    method, route, code = done.method, done.route, done.status
    fields = {
        "method": method,
        "route": route,
        "path": done.path,
        "status": code,
        "durationMs": round(seconds * 1000, 3),
        "actor": done.principal.name if done.principal is not None else None,
        "bytes": done.sent,
    }
    if log_format.json_info_line(log, f"{method} {route} {code}", fields):
        return
    # makeRecord + handle, not log.info: skips the caller lookup (a stack walk).
    line = log.makeRecord(
        log.name, logging.INFO, __file__, 0, "%s %s %d", (method, route, code), None
    )
    line.http = fields
    log.handle(line)
