"""Bearer-token authentication, as plain ASGI middleware in front of every route but /health.

Tokens are compared with `hmac.compare_digest` against every configured token, so timing does
not reveal which prefix matched. The token itself never reaches logs, errors or events: handlers
only see the `Principal` (a token *name* and its scope).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})
# Paths whose spec is public: the schema tells nothing a client cannot learn from the docs.
OPEN_PREFIXES = ("/schema",)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scope: str  # "admin" | "agent" | "read"


ANONYMOUS = Principal("anonymous", "admin")


class Tokens:
    def __init__(self, tokens: dict[str, Principal]) -> None:
        self._tokens = [(secret.encode(), principal) for secret, principal in tokens.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def resolve(self, presented: str) -> Principal | None:
        candidate = presented.encode()
        found: Principal | None = None
        for secret, principal in self._tokens:
            if hmac.compare_digest(secret, candidate):
                found = principal
        return found


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def auth_middleware(tokens: Tokens) -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            path = scope["path"]
            state = scope.setdefault("state", {})
            if not tokens.enabled or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
                state["principal"] = ANONYMOUS
                await app(scope, receive, send)
                return
            presented = _bearer(scope)
            principal = tokens.resolve(presented) if presented is not None else None
            if principal is None:
                message = (
                    "missing bearer token: send 'Authorization: Bearer <token>'"
                    if presented is None
                    else "invalid bearer token"
                )
                await _reject(send, message)
                return
            state["principal"] = principal
            await app(scope, receive, send)

        return middleware

    return factory


async def _reject(send: Send, message: str) -> None:
    body = orjson.dumps({"error": message})
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="vm-registry"'),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
