"""What every HTTP answer passes through at the app's outer edge, whatever route (or none)
produced it.

- `HEAD` is answered like `GET` without the body, on every route that has a `GET`: the request
  is routed as a `GET` and its answer ends right after the status and headers (uvicorn, which
  still sees `HEAD`, sends no body bytes). A stream's `HEAD` ends there too, instead of staying
  open.
- Every error is `{"error": ...}` JSON. A few answers are made below our handlers, as plain
  text (litestar's CORS refusal, "Disallowed CORS Origin"); they are rewritten here, so no
  route has to know about them.

This wraps litestar's own ASGI handler rather than being route middleware: litestar runs
middleware per route, after routing, so it would never see a request the router refuses.
"""

from __future__ import annotations

from typing import Any

import orjson
from litestar.types import ASGIApp, Receive, Send

_JSON = b"application/json"


def wrap(app: ASGIApp) -> ASGIApp:
    async def edge(scope: Any, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            # A copy: uvicorn keeps its own scope saying HEAD, which is what keeps the body off
            # the wire.
            routed: Any = {**scope, "method": "GET"}
            try:
                await app(routed, receive, _headers_only(send))
            finally:
                # The route the copy matched, for the request log and metrics around us.
                if "path_template" in routed:
                    scope["path_template"] = routed["path_template"]
            return
        await app(scope, receive, _errors_as_json(send))

    return edge


def _headers_only(send: Any) -> Send:
    done = False

    async def sender(message: Any) -> None:
        nonlocal done
        if done:
            return  # the route is still producing a body nobody will read
        if message["type"] == "http.response.start":
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            done = True  # uvicorn now tells the route the client has gone, ending any stream
            return
        await send(message)

    return sender


def _errors_as_json(send: Any) -> Send:
    held: dict[str, Any] | None = None  # the start of a plain-text error, until its body is known
    parts: list[bytes] = []

    async def sender(message: Any) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            if message["status"] >= 400 and not _is_json(message):
                held = message
                return
            await send(message)
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        text = b"".join(parts).decode("utf-8", "replace").strip()
        body = orjson.dumps({"error": text or f"request refused with status {held['status']}"})
        headers = [
            (name, value)
            for name, value in held.get("headers", [])
            if name.lower() not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
        await send({**held, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return sender


def _is_json(start: dict[str, Any]) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().lower() == _JSON
    return False
