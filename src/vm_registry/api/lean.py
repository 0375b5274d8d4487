"""The lean path: the hot routes' plain requests, routed by litestar, answered without its
per-request machinery.

A litestar handler costs about 45 us of CPU per request before it does anything (measured in
process on `GET /health`: its request object, signature model, response object, exception and
auth middleware, the `before_send` wrapper; docs/benchmarks.md has the breakdown). For the
requests an agent fleet makes all day, that was four fifths of the work. Here they are matched
by litestar's own router (its cached `handle_routing`, so paths, path parameters and route
templates are the litestar app's), and when the matched handler names a lean twin in its `opt`
(`opt={"lean": "heartbeat"}`), that twin answers directly:

- auth is the same `Guard` the litestar middleware uses (`api/auth.py`), and a refusal is the
  same 401;
- the answer is worked out by the same function the litestar handler calls (`api/hot.py`), and
  a domain or store error is rendered from the same table (`api/errors.py`);
- security headers and the request id are added by the outer layer for both paths
  (`api/request_log.py`), so both answers are the same bytes.

A registration (`POST /registry/vms`) reads its body through ASGI `receive` with litestar's
limit and refusals (`read_body`), then goes through the same function as the litestar handler
(`hot.register`): the same parsing, duplicate-key check, validation and errors. Its
`Content-Type` is not looked at, as the litestar handler never did.

The plainest of these requests (no body, nothing else in flight on the connection) do not
even reach ASGI: the HTTP protocol answers them with these same twins (`api/wire.py`).

Anything that is not the plain form falls through to the full litestar app, unchanged: a query
string (`?at=`, `?index=&wait=`, `?healthy=`), `X-Registry-Min-Revision`, HEAD, a CORS request
(an `Origin` header while CORS is configured), a path litestar would normalise, a `Host` header
outside the plain characters (litestar judges it), a `Content-Length` that is not plain digits
(or given twice), and every route without a lean twin.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.exceptions import HTTPException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Receive, Send

from vm_registry.api import errors, hot
from vm_registry.api.auth import Guard, Principal, reject
from vm_registry.api.request_inputs import actor_of
from vm_registry.api.resources import Resources, of_app
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.outcome import Outcome
from vm_registry.persistence.errors import StoreError

log = logging.getLogger("vm_registry.api")

LEAN = "lean"
JSON = (b"content-type", b"application/json")
# What litestar's router would take as it is: no empty segment, no trailing slash.
_PLAIN_PATH = re.compile(r"(?:/[^/]+)+")
_PLAIN_HOST = re.compile(rb"[0-9A-Za-z.:\-\[\]]*")
# Headers that send a request down the full path (besides a query string).
_FULL_PATH_HEADERS = frozenset({b"x-registry-min-revision"})

Params = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
Client = tuple[str, int] | None
# The twins that answer at once, from the state as it is: everything but the heartbeat.
Now = Callable[[Resources, Params], hot.Answer]


def _health(res: Resources, params: Params) -> hot.Answer:
    return hot.health(res.runtime)


def _get_vm(res: Resources, params: Params) -> hot.Answer:
    return hot.one_vm(res.runtime.registry, res.renderer, params["vm_id"])


def _discover(res: Resources, params: Params) -> hot.Answer:
    return hot.discover(res.runtime.registry, res.renderer, params["role"])


def _list_vms(res: Resources, params: Params) -> hot.Answer:
    registry = res.runtime.registry
    return hot.listing(registry, res.renderer, registry.entries(None, None))


HEARTBEAT = "heartbeat"  # the twins that wait: for the durable commit
REGISTER = "register"  # ... and first for the body
DOUBTFUL = -1  # a Content-Length the lean path leaves to litestar
NOW: dict[str, Now] = {
    "health": _health,
    "get_vm": _get_vm,
    "discover": _discover,
    "list_vms": _list_vms,
}
# The twins the HTTP protocol may answer itself (api/wire.py): a registration needs its body.
BODYLESS = frozenset({HEARTBEAT, *NOW})
TWINS = frozenset({REGISTER, *BODYLESS})


async def heartbeat(
    res: Resources, params: Params, who: Principal, headers: Headers, client: Client
) -> hot.Answer:
    return await hot.heartbeat(res.runtime, params["vm_id"], who, _actor(headers, client, who))


def heartbeat_soon(
    res: Resources, params: Params, who: Principal, headers: Headers, client: Client
) -> asyncio.Future[Outcome] | None:
    """`heartbeat` without a coroutine (`hot.heartbeat_soon`); `hot.heartbeat_answer` renders
    its outcome."""
    actor = _actor(headers, client, who)
    return hot.heartbeat_soon(res.runtime, params["vm_id"], who, actor)


async def register(
    res: Resources, who: Principal, scope: Any, receive: Receive, announced: int | None
) -> hot.Answer:
    limit = res.runtime.settings.max_body_bytes
    actor = _actor(scope["headers"], scope.get("client"), who)

    async def body() -> bytes:
        return await read_body(receive, announced, limit)

    return await hot.register(res.runtime, res.renderer, who, body, actor)


async def read_body(receive: Receive, announced: int | None, limit: int) -> bytes:
    """The body, read as litestar's `Request.body()` reads it (a route's
    `request_max_body_size`): refused at once when `Content-Length` announces more than the
    limit, else as soon as the bytes received pass it; a client gone mid-body is litestar's
    500. The same exceptions, so the same table renders them (`errors.http_answer`)."""
    if announced is not None and announced > limit:
        raise RequestEntityTooLarge
    parts: list[bytes] = []
    received = 0
    while True:
        event = await receive()
        if event["type"] == "http.request":
            chunk = event.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise RequestEntityTooLarge
            parts.append(chunk)
            if not event.get("more_body", False):
                return b"".join(parts)
        elif event["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")


def announced_length(headers: Headers) -> int | None:
    """`Content-Length` as a number (None without one), or `DOUBTFUL` when it is anything
    litestar might read otherwise (a sign, spaces, two of them): that goes down the full path."""
    found: int | None = None
    for name, value in headers:
        if name == b"content-length":
            if found is not None or not value.isdigit():
                return DOUBTFUL
            found = int(value)
    return found


def _actor(headers: Headers, client: Client, who: Principal) -> dict[str, Any]:
    agent = None
    for name, value in headers:
        if name == b"user-agent":
            agent = value.decode("latin-1")
            break
    return actor_of(client[0] if client else None, agent, who)


def plain(method: str, path: str, headers: Headers, cors: bool) -> bool:
    """A request the lean twins may answer, besides having no query string and no root path:
    what litestar would route as it is, with nothing that asks for the full path."""
    if method not in ("GET", "POST") or not _PLAIN_PATH.fullmatch(path):
        return False
    for name, value in headers:
        if name in _FULL_PATH_HEADERS or (cors and name == b"origin"):
            return False
        if name == b"host" and not _PLAIN_HOST.fullmatch(value):
            return False
    return True


def _plain(scope: Any, cors: bool) -> bool:
    if scope["query_string"] or scope.get("root_path"):
        return False
    return plain(scope["method"], scope["path"], scope["headers"], cors)


def failed(method: str, path: str, exc: Exception) -> hot.Answer:
    """A twin's error, rendered from the one table (api/errors.py); anything else is a 500 in
    the shape of every other error."""
    if isinstance(exc, RegistryError):
        status, message, extra = errors.registry_answer(exc)
        return hot.error(message, status, _encoded(extra))
    if isinstance(exc, HTTPException):  # litestar's own, raised reading a body
        status, message, extra = errors.http_answer(method, path, exc)
        return hot.error(message, status, _encoded(extra))
    if isinstance(exc, StoreError):
        status, message, extra = errors.store_answer(method, path, exc)
        return hot.error(message, status, _encoded(extra))
    status, message = errors.internal_answer(method, path, exc)
    return hot.error(message, status)


def typed(answer: hot.Answer) -> hot.Answer:
    """With the headers every lean answer ends with, in litestar's order."""
    answer.headers.append(JSON)
    answer.headers.append((b"content-length", b"%d" % len(answer.body)))
    return answer


def routes(app: Litestar, guard: Guard, full: ASGIApp) -> ASGIApp:
    """The ASGI app answering the hot routes' plain requests, and handing the rest to `full`
    (litestar's handler chain)."""
    route = app.asgi_router.handle_routing
    cors = app.cors_config is not None
    res = of_app(app)

    async def lean(scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _plain(scope, cors):
            await full(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        try:
            _, handler, _, params, template = route(path, method)
        except Exception:  # no such route or method: litestar answers it, as it always has
            await full(scope, receive, send)
            return
        name = handler.opt.get(LEAN, "")
        if name not in TWINS:
            await full(scope, receive, send)
            return
        announced = announced_length(scope["headers"]) if name == REGISTER else None
        if announced == DOUBTFUL:
            await full(scope, receive, send)
            return
        scope["path_template"] = template  # the request log's and metrics' route label
        who = guard.check(scope)
        if isinstance(who, str):
            await reject(send, who)
            return
        try:
            if name == HEARTBEAT:
                answer = await heartbeat(res, params, who, scope["headers"], scope.get("client"))
            elif name == REGISTER:
                answer = await register(res, who, scope, receive, announced)
            else:
                answer = NOW[name](res, params)
        except Exception as exc:
            answer = failed(method, path, exc)
        status, body, headers = typed(answer)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return lean


def _encoded(headers: dict[str, str] | None) -> hot.Headers:
    return [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
