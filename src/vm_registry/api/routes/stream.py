"""`GET /registry/stream`: the change feed as Server-Sent Events, through sse-starlette.

Everything that can fail (bad resume point, compacted history, subscriber cap) is checked
before the stream opens, so a client gets a plain JSON error instead of a broken stream.

The handler is an ordinary `@get`; what it returns is the ASGI app
that streams (sse-starlette's response, which must own `receive` to notice a hang-up). It is
left out of the OpenAPI document: a stream never ends, which OpenAPI cannot describe and a
fuzzer cannot wait for.

A stream ends in one of four ways: the client hangs up (sse-starlette cancels the generator, and
the subscription is released); the server shuts down (sse-starlette sets `shutdown` and the
subscription stops at its next turn, so the response ends with a proper last chunk instead of a
cut connection); the log is compacted past a lagging subscriber (the stream ends, and the
client's reconnect with its Last-Event-ID gets the 410); or the client stops reading, in which
case nothing ends: the subscriber keeps only its cursor, and catches up when it reads again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Request, get
from litestar.types import ASGIApp, Receive, Scope, Send
from sse_starlette import EventSourceResponse
from starlette.types import Message as StarletteMessage
from starlette.types import Send as StarletteSend

from vm_registry.api import request_inputs as rq
from vm_registry.api import resources, responses
from vm_registry.domain.errors import Gone, Invalid
from vm_registry.domain.events import EVENT_TYPES
from vm_registry.domain.model import ROLES
from vm_registry.domain.validation import vm_id as valid_vm_id
from vm_registry.feed import frames
from vm_registry.feed.broker import Subscription
from vm_registry.feed.filters import FeedFilter

AnyRequest = Request[Any, Any, Any]


class FeedResponse(EventSourceResponse):
    """sse-starlette's response, minus a cancel scope around every send when no send timeout
    is set: at a thousand subscribers that scope was a measurable share of fan-out. A client
    that stops reading needs no timeout here: uvicorn's flow control parks its sender, which
    holds only a cursor into the shared tail."""

    async def _send_with_timeout(self, send: StarletteSend, message: StarletteMessage) -> None:
        if self.send_timeout is None:
            await send(message)
            return
        await super()._send_with_timeout(send, message)


log = logging.getLogger("vm_registry.feed")

# How long a stream gets to end by itself on shutdown before it is cancelled; well inside
# uvicorn's graceful shutdown timeout.
SHUTDOWN_GRACE_SECONDS = 1.0


def _resume_point(request: AnyRequest) -> int | None:
    header = rq.header(request, "last-event-id")
    # EventSource resends the URL it was opened with, so a reconnect carries both the
    # original ?after= and a newer Last-Event-ID: the header is the newer one and wins.
    if header is not None and header.strip():
        return rq.natural(header.strip(), "Last-Event-ID")
    return rq.query_int(request, "after")


def _filter(request: AnyRequest) -> FeedFilter:
    role = rq.query_choice(request, "role", ROLES)
    vm = rq.query_one(request, "vm")
    types: frozenset[str] | None = None
    raw_types = rq.query_one(request, "types")
    if raw_types is not None:
        names = [name.strip() for name in raw_types.split(",") if name.strip()]
        for name in names:
            if name not in EVENT_TYPES:
                raise Invalid(
                    f"query parameter types has unknown type {name!r}; "
                    f"known: {', '.join(EVENT_TYPES)}"
                )
        if not names:
            raise Invalid("query parameter types must list at least one event type")
        types = frozenset(names)
    vm_id = None if vm is None else valid_vm_id(vm, "query parameter vm")
    return FeedFilter(role, vm_id, types, rq.selector(request))


async def _stream(
    subscription: Subscription, opening: bytes, bookmark_after: float, shutdown: anyio.Event
) -> AsyncIterator[bytes]:
    async def stop_on_shutdown() -> None:
        await shutdown.wait()
        subscription.stop()

    stopper = asyncio.create_task(stop_on_shutdown())
    try:
        yield opening
        async for chunk in subscription.chunks(bookmark_after):
            yield chunk
    except Gone as error:
        log.warning("ending a stream that fell behind the compacted log: %s", error.message)
    finally:
        stopper.cancel()
        subscription.close()


@get("/registry/stream", include_in_schema=False)
async def stream(request: AnyRequest) -> ASGIApp:
    runtime = resources.of(request).runtime
    registry, broker, settings = runtime.registry, runtime.feed, runtime.settings
    feed_filter = _filter(request)
    after = _resume_point(request)
    snapshot = rq.query_flag(request, "snapshot")
    if after is not None:
        await registry.first_seq()  # the broker judges the resume point against it
        # A Last-Event-ID from another replica may be ahead of this one: wait until it folded it.
        await registry.caught_up(after, "resume point")
    await registry.caught_up(rq.min_revision(request))
    # From here to subscribing, nothing awaits: no write can slip between.
    head = registry.revision
    if after is not None and after > head:
        raise Invalid(f"resume point {after} is beyond the head of the log ({head})")

    opening = frames.retry(settings.retry_ms)
    if snapshot and after is None:
        vms = [e for e in registry.entries() if feed_filter.admits_entry(e)]
        now = registry.clock()
        body = {
            "revision": head,
            "vms": [responses.entry(e, registry.is_stale(e, now)) for e in vms],
        }
        opening += frames.message("snapshot", body, head)
    subscription = broker.subscribe(head if after is None else after, feed_filter)
    shutdown = anyio.Event()
    response = FeedResponse(
        _stream(subscription, opening, settings.bookmark_after_seconds, shutdown),
        ping=settings.keepalive_seconds,
        sep="\n",
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            responses.REVISION_HEADER: str(head),
        },
    )

    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await response(scope, receive, send)  # type: ignore[arg-type,unused-ignore]
        finally:
            subscription.close()

    return respond


ROUTES = [stream]
