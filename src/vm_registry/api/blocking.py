"""`?index=N&wait=30s` on the read routes: parsing, and holding the request
(service/blocking_queries.py).

`wait` is a number with a unit (`500ms`, `30s`, `5m`) or plain seconds. It is capped at
`MAX_WAIT`, and the hold is shortened by up to 1/16 at random (Consul's jitter, taken off rather
than added, so a client whose read timeout is the wait it asked for plus a margin is never cut
off): a thousand watchers that started together do not all come back together.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any, Final

from litestar import Request

from vm_registry.api import request_inputs as rq
from vm_registry.domain.errors import Invalid
from vm_registry.service.blocking_queries import BlockingQueries, Scope

MAX_WAIT: Final = 300.0  # seconds
DEFAULT_WAIT: Final = MAX_WAIT
_WAIT: Final = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}

AnyRequest = Request[Any, Any, Any]


def wait_seconds(text: str) -> float:
    match = _WAIT.match(text.strip())
    if match is None:
        raise Invalid(f"query parameter wait={text!r} must be a duration such as 500ms, 30s or 5m")
    return min(float(match.group(1)) * _UNITS[match.group(2)], MAX_WAIT)


def blocking(request: AnyRequest) -> tuple[int, float] | None:
    """`(index, seconds)` when the request asks to be held, None for a plain read."""
    index = rq.query_int(request, "index")
    raw_wait = rq.query_one(request, "wait")
    if index is None:
        if raw_wait is not None:
            raise Invalid("query parameter wait needs index=<X-Registry-Revision you last saw>")
        return None
    if "at" in request.query_params or "asOf" in request.query_params:
        raise Invalid(
            "index (a blocking query) cannot be combined with at or asOf: the past does not change"
        )
    seconds = DEFAULT_WAIT if raw_wait is None else wait_seconds(raw_wait)
    return index, seconds * (1 - random.uniform(0, 1 / 16))


async def _hung_up(request: AnyRequest) -> None:
    """Completes when the client disconnects. A GET has no body, so after its one (empty)
    request message the next thing the server can receive is the disconnect."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def hold(
    request: AnyRequest, queries: BlockingQueries, scope_now: Callable[[], Scope]
) -> None:
    """Hold the request if it asked to be held and nothing in its scope changed yet. The scope
    (with the ids of the answer as it is now) is only worked out for a blocking request."""
    asked = blocking(request)
    if asked is None:
        return
    index, seconds = asked
    scope = scope_now()
    if not queries.must_wait(scope, index):
        return
    await queries.hold(scope, index, seconds, lambda: _hung_up(request))
