"""Turning a request into command inputs: the JSON body, query values, If-Match, the actor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from litestar import Request

from vm_registry.api.auth import ANONYMOUS, Principal
from vm_registry.domain import selectors
from vm_registry.domain.errors import Forbidden, Invalid, TooLarge
from vm_registry.wire import duplicate_keys

MAX_USER_AGENT = 200
# Every number a client can send (seqs, revisions, limits) fits in SQLite's signed 64 bits.
# Checking the digits before `int()` also keeps Python's 4,300-digit conversion limit, a
# ValueError and so a 500, out of reach.
MAX_NUMBER = (1 << 63) - 1


async def json_body(request: Request[Any, Any, Any], max_entry_bytes: int | None = None) -> Any:
    """The parsed body. With `max_entry_bytes`, a body too large to make an entry within that
    limit is refused before it is parsed: parsing is where a body's memory multiplies (a 1 MiB
    array of empty objects takes 24 MiB as Python objects)."""
    return parsed_json(await request.body(), max_entry_bytes)


def parsed_json(raw: bytes, max_entry_bytes: int | None = None) -> Any:
    """`json_body`'s checks on a body already read: also the lean registration's
    (`api/hot.py`), which reads it through ASGI `receive` instead."""
    if max_entry_bytes is not None and len(raw) > write_body_limit(max_entry_bytes):
        raise TooLarge(
            f"request body is {len(raw)} bytes; with the entry limit of {max_entry_bytes} bytes "
            f"(--max-entry-bytes) a write may be at most {write_body_limit(max_entry_bytes)}"
        )
    if not raw.strip():
        raise Invalid("request body is empty; send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"request body is not valid JSON: {error}") from None
    duplicate_keys.refuse_duplicate_keys(raw, value)
    return value


def write_body_limit(max_entry_bytes: int) -> int:
    """Room for the entry twice over (pretty-printed JSON, escapes) and the other fields."""
    return 2 * max_entry_bytes + 64 * 1024


def principal(request: Request[Any, Any, Any]) -> Principal:
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else ANONYMOUS


def actor(request: Request[Any, Any, Any]) -> dict[str, Any]:
    client = request.client
    agent = request.headers.get("user-agent")
    return actor_of(client.host if client is not None else None, agent, principal(request))


def actor_of(ip: str | None, agent: str | None, found: Principal) -> dict[str, Any]:
    """Who asked, as far as we know. The client port is left out on purpose: it changes with
    every connection and would make each actor unique (actors are stored once each)."""
    who: dict[str, Any] = {}
    if ip is not None:
        who["ip"] = ip
    if agent:
        who["userAgent"] = agent[:MAX_USER_AGENT]
    if found is not ANONYMOUS:
        who["token"] = found.name  # the token's name, never the token
        who["scope"] = found.scope
    return who


def writer(request: Request[Any, Any, Any]) -> str | None:
    return may_write(principal(request))


def may_write(found: Principal) -> str | None:
    """Check the caller may write. Returns the agent token's name when its writes are limited
    to the VMs it registered, None when they are not."""
    if found.scope == "read":
        raise Forbidden(f"token {found.name!r} is read-only")
    return found.name if found.scope == "agent" else None


def query_choice(request: Request[Any, Any, Any], name: str, allowed: Sequence[str]) -> str | None:
    value = query_one(request, name)
    if value is None:
        return None
    if value == "":
        # No filter, as in the registry agents use today: existing scripts send `?role=$ROLE`
        # with the variable unset and expect every VM (docs/moving-from-agent-services.md).
        return None
    if value not in allowed:
        raise Invalid(f"query parameter {name}={value!r} must be one of {', '.join(allowed)}")
    return value


def natural(text: str, where: str) -> int:
    """A non-negative decimal integer of ASCII digits, at most `MAX_NUMBER`; `where` names the
    input in the error."""
    if not text.isdigit() or not text.isascii():
        raise Invalid(f"{where} must be a non-negative integer, not {_shown(text)}")
    significant = text.lstrip("0")
    if len(significant) > len(str(MAX_NUMBER)) or int(significant or "0") > MAX_NUMBER:
        raise Invalid(f"{where} must be at most {MAX_NUMBER} ({len(text)} digits sent)")
    return int(significant or "0")


def _shown(text: str) -> str:
    # Echo enough of a bad value to recognise it, never a megabyte of it.
    return repr(text) if len(text) <= 64 else repr(text[:64]) + "..."


def query_one(request: Request[Any, Any, Any], name: str) -> str | None:
    """A query parameter that takes one value, or None when absent. Given twice it is refused
    rather than one of the two picked: the client and the server would disagree on which."""
    values = request.query_params.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise Invalid(f"query parameter {name} is given more than once")
    return str(values[0])


def header(request: Request[Any, Any, Any], name: str) -> str | None:
    """A header's value as the client wrote it. ASGI hands headers over as bytes, which are
    read as latin-1; a client that sent UTF-8 (curl does) would see its own value garbled in
    an error that quotes it."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def query_int(request: Request[Any, Any, Any], name: str, *, minimum: int = 0) -> int | None:
    value = query_one(request, name)
    if value is None:
        return None
    number = natural(value, f"query parameter {name}")
    if number < minimum:
        raise Invalid(f"query parameter {name} must be at least {minimum}")
    return number


def if_match(request: Request[Any, Any, Any]) -> int | None:
    value = header(request, "if-match")
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit() or not text.isascii():
        raise Invalid(f'If-Match must be a quoted revision such as "42", not {_shown(value)}')
    return natural(text, "If-Match")


def query_flag(request: Request[Any, Any, Any], name: str) -> bool:
    value = query_one(request, name)
    if value is None:
        return False
    if value == "":
        # Consul reads a bare `?passing` as true; reading `?healthy` as false would be a quiet
        # surprise, and as true a guess. So it is refused (a bare name arrives as empty).
        raise Invalid(f"query parameter {name} is empty; give {name}=true or {name}=false")
    if value.lower() not in ("true", "false", "1", "0"):
        raise Invalid(f"query parameter {name} must be true or false, not {_shown(value)}")
    return value.lower() in ("true", "1")


MIN_REVISION_HEADER = "X-Registry-Min-Revision"


def min_revision(request: Request[Any, Any, Any]) -> int | None:
    """`?minRevision=N`, or its header twin: answer only once this replica has folded N (the
    `X-Registry-Revision` of the caller's last write, perhaps made through another replica)."""
    found = query_int(request, "minRevision")
    value = header(request, MIN_REVISION_HEADER)
    if value is None or not value.strip():
        return found
    return max(natural(value.strip(), MIN_REVISION_HEADER), found or 0)


def selector(request: Request[Any, Any, Any]) -> selectors.Selector | None:
    """`?selector=`: a label selector over the metadata; empty means no filter, like `?role=`."""
    text = query_one(request, "selector")
    if text is None or not text.strip():
        return None
    return selectors.parse(text)
