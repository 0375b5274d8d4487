"""Security headers on every response, so that errors, 401s from the auth middleware and the
SSE stream all get them too.

They are installed as a litestar `before_send` hook rather than as middleware: litestar runs
app-level middleware per route, so middleware never sees what the router answers by itself
(404 for an unknown path, 405, CORS preflights), while the hook wraps `send` for every response
the app produces, those included.

The API serves JSON only, so the content security policy forbids everything: a response can
never be turned into a page that runs script.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import Message, Scope

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _add(message: Message) -> None:
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    if b"cache-control" not in present:
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers


async def before_send(message: Message, scope: Scope) -> None:
    # `async` on purpose: litestar runs a plain-`def` hook in a thread pool, one round trip per
    # `send`, which cost a third of the server's time when fanning out the change feed.
    if scope["type"] == ScopeType.HTTP:
        _add(message)
