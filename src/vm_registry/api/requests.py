"""Turning a request into command inputs: the JSON body, query values, If-Match, the actor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from litestar import Request

from vm_registry.api.auth import ANONYMOUS, Principal
from vm_registry.domain.errors import Forbidden, Invalid

MAX_USER_AGENT = 200


async def json_body(request: Request[Any, Any, Any]) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise Invalid("request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"request body is not valid JSON: {error}") from None


def principal(request: Request[Any, Any, Any]) -> Principal:
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else ANONYMOUS


def actor(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Who asked, as far as we know. The client port is left out on purpose: it changes with
    every connection and would make each actor unique (actors are stored once each)."""
    who: dict[str, Any] = {}
    if request.client is not None:
        who["ip"] = request.client.host
    agent = request.headers.get("user-agent")
    if agent:
        who["userAgent"] = agent[:MAX_USER_AGENT]
    found = principal(request)
    if found is not ANONYMOUS:
        who["token"] = found.name  # the token's name, never the token
        who["scope"] = found.scope
    return who


def writer(request: Request[Any, Any, Any]) -> str | None:
    """Check the caller may write. Returns the agent token's name when its writes are limited
    to the VMs it registered, None when they are not."""
    found = principal(request)
    if found.scope == "read":
        raise Forbidden(f"token {found.name!r} is read-only")
    return found.name if found.scope == "agent" else None


def query_choice(request: Request[Any, Any, Any], name: str, allowed: Sequence[str]) -> str | None:
    # An empty value (`?role=`) means no filter, as in the registry agents use today.
    values = [v for v in request.query_params.getall(name, []) if v != ""]
    if not values:
        return None
    if len(values) > 1:
        raise Invalid(f"query parameter {name} is given more than once")
    value = values[0]
    if value not in allowed:
        raise Invalid(f"query parameter {name}={value!r} must be one of {', '.join(allowed)}")
    return str(value)


def query_int(request: Request[Any, Any, Any], name: str, *, minimum: int = 0) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise Invalid(f"query parameter {name}={value!r} must be a non-negative integer")
    number = int(value)
    if number < minimum:
        raise Invalid(f"query parameter {name} must be at least {minimum}")
    return number


def if_match(request: Request[Any, Any, Any]) -> int | None:
    value = request.headers.get("if-match")
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit() or not text.isascii():
        raise Invalid(f'If-Match must be a quoted revision such as "42", not {value!r}')
    return int(text)


def query_flag(request: Request[Any, Any, Any], name: str) -> bool:
    values = [v for v in request.query_params.getall(name, []) if v != ""]
    if not values:
        return False
    if len(values) > 1:
        raise Invalid(f"query parameter {name} is given more than once")
    value = str(values[0]).lower()
    if value not in ("true", "false", "1", "0"):
        raise Invalid(f"query parameter {name} must be true or false, not {values[0]!r}")
    return value in ("true", "1")
