"""Bearer-token authentication, as plain ASGI middleware in front of every route but /health.

Tokens are compared with `hmac.compare_digest` against every configured token, so timing does
not reveal which prefix matched. The token itself never reaches logs, errors or events: handlers
only see the `Principal` (a token *name* and its scope).
"""

from __future__ import annotations

import hmac
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

# `/` only sends a browser to /ui, or tells any other client where the routes are.
OPEN_PATHS = frozenset({"/", "/health", "/ui"})
# Paths whose spec is public: the schema tells nothing a client cannot learn from the docs.
# The dashboard's static files hold no data (the page asks for a token and sends it to the API).
OPEN_PREFIXES = ("/schema", "/ui/")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scope: str  # "admin" | "agent" | "read"


ANONYMOUS = Principal("anonymous", "admin")


SCOPES = ("admin", "agent", "read")


class TokenConfigError(ValueError):
    """The token configuration is unusable; the server refuses to start rather than guess."""


def load_tokens(
    admin_token: str | None, tokens_file: Path | None, tokens_env: str | None
) -> Tokens:
    """`VERS_AUTH_TOKEN` alone is one admin token, as today. Scoped tokens come from a TOML
    file (`[[token]]` tables with `name`, `scope`, and `secret` or `secret_env`) or from
    `VM_REGISTRY_TOKENS="name:scope:secret;..."`."""
    found: dict[str, Principal] = {}
    # Ownership of a VM is keyed by the token's name, so two tokens with one name would share
    # (and could delete) each other's VMs: a configuration error, like a shared secret.
    named: dict[str, str] = {}

    def add(name: str, scope: str, secret: str, where: str) -> None:
        if not name.strip():
            raise TokenConfigError(f"{where}: the token needs a name")
        if scope not in SCOPES:
            raise TokenConfigError(f"{where}: scope {scope!r} must be one of {', '.join(SCOPES)}")
        if len(secret) < 8:
            raise TokenConfigError(f"{where}: the secret of token {name!r} is too short")
        if secret in found:
            raise TokenConfigError(f"{where}: two tokens share one secret")
        if name in named:
            raise TokenConfigError(
                f"{where}: the name {name!r} is already used by {named[name]}; "
                "each token needs a name of its own (ownership of VMs follows the name)"
            )
        found[secret] = Principal(name, scope)
        named[name] = where

    if admin_token:
        found[admin_token] = Principal("admin", "admin")
        named["admin"] = "VERS_AUTH_TOKEN"
    if tokens_file is not None:
        for where, item in _file_tokens(tokens_file):
            secret = item.get("secret") or os.environ.get(item.get("secret_env") or "", "")
            if not isinstance(item.get("name"), str) or not secret:
                raise TokenConfigError(f"{where}: needs a name and a secret or secret_env")
            add(item["name"], str(item.get("scope", "")), secret, where)
    if tokens_env:
        for index, part in enumerate(p for p in tokens_env.split(";") if p.strip()):
            name, _, rest = part.strip().partition(":")
            scope, _, secret = rest.partition(":")
            add(name, scope, secret, f"VM_REGISTRY_TOKENS entry #{index + 1}")
    return Tokens(found)


def _file_tokens(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The `[[token]]` tables of a tokens file, each with where it is, its values' types
    checked: a file that is not UTF-8, or a `token` that is not an array of tables, or a
    secret that is not text, was a traceback."""
    try:
        config = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise TokenConfigError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TokenConfigError(f"{path}: {error}") from error
    items = config.get("token", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise TokenConfigError(f"{path}: each token must be a [[token]] table")
    found = []
    for index, item in enumerate(items):
        where = f"{path} token #{index + 1}"
        for key in ("name", "scope", "secret", "secret_env"):
            if key in item and not isinstance(item[key], str):
                raise TokenConfigError(f"{where}: {key} must be a string")
        found.append((where, item))
    return found


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


def _bearer(headers: Any) -> str | None:
    for key, value in headers:
        if key == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class Guard:
    """Who a request is, or why it is refused: the one check the litestar middleware, the lean
    hot routes (`api/lean.py`) and the protocol's own answers (`api/wire.py`) make, so they
    cannot disagree."""

    def __init__(self, tokens: Tokens, *, metrics_public: bool = False) -> None:
        self.tokens = tokens
        self.open_paths = OPEN_PATHS | {"/metrics"} if metrics_public else OPEN_PATHS

    def check(self, scope: Scope) -> Principal | str:
        """The principal (also put in the scope's state, where the request log reads it), or
        the 401's message."""
        state = scope.setdefault("state", {})
        found = self.who(scope["path"], scope.get("headers", ()))
        if not isinstance(found, str):
            state["principal"] = found
        return found

    def who(self, path: str, headers: Any) -> Principal | str:
        """The principal of a request for `path` with `headers`, or the 401's message."""
        if not self.tokens.enabled or path in self.open_paths or path.startswith(OPEN_PREFIXES):
            return ANONYMOUS
        presented = _bearer(headers)
        principal = self.tokens.resolve(presented) if presented is not None else None
        if principal is None:
            if presented is None:
                return "missing bearer token: send 'Authorization: Bearer <token>'"
            return "invalid bearer token"
        return principal


def auth_middleware(guard: Guard) -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            found = guard.check(scope)
            if isinstance(found, str):
                await reject(send, found)
                return
            await app(scope, receive, send)

        return middleware

    return factory


def refusal(message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The 401's status, headers and body: one shape for every path that refuses."""
    body = orjson.dumps({"error": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="vm-registry"'),
    ]
    return 401, headers, body


async def reject(send: Send, message: str) -> None:
    status, headers, body = refusal(message)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
