"""`/registry/events` and `/registry/vms/{id}/history`: the log, for auditors."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from vm_registry.api import request_inputs as rq
from vm_registry.api import resources, responses, schemas
from vm_registry.api.openapi import (
    AFTER,
    LIMIT,
    MIN_REVISION,
    PAGE_LIMIT,
    REVISION,
    SINCE,
    TYPES,
    UNTIL,
    VM,
    VmId,
    answers,
    operation,
)
from vm_registry.domain.errors import Gone, Invalid, NotFound
from vm_registry.domain.events import EVENT_TYPES
from vm_registry.domain.timestamps import parse_iso
from vm_registry.domain.validation import vm_id as valid_vm_id
from vm_registry.persistence.log import EventQuery
from vm_registry.service.registry import Registry

AnyRequest = Request[Any, Any, Any]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A page also ends at the event whose data bring it to this many bytes: a page of 1,000 events
# with 64 KiB of metadata each was 64 MB read, decoded and encoded at once, per request.
PAGE_BYTES = 4 * 1024 * 1024


def _time(request: AnyRequest, name: str) -> int | None:
    value = rq.query_one(request, name)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise Invalid(f"query parameter {name}={value!r} is not an ISO 8601 time") from None


def _types(request: AnyRequest) -> tuple[str, ...] | None:
    raw = rq.query_one(request, "type")
    if raw is None:
        return None
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if name not in EVENT_TYPES:
            raise Invalid(f"query parameter type has unknown type {name!r}")
    if not names:
        raise Invalid("query parameter type must name an event type")
    return names


async def _start(request: AnyRequest, registry: Registry) -> int:
    first = await registry.first_seq()
    after = rq.query_int(request, "after")
    if after is None:
        return first - 1
    if after < first - 1:
        raise Gone(
            f"events up to seq {first - 1} were compacted; page from after={first - 1} "
            "or use the compaction archive"
        )
    return after


def _page(events: list[Any], registry: Registry) -> Response[bytes]:
    body: dict[str, Any] = {"events": [responses.event(e) for e in events], "count": len(events)}
    if events:
        body["next"] = events[-1].seq
    return responses.json(body, headers={responses.REVISION_HEADER: str(registry.revision)})


@get(
    "/registry/events",
    responses=answers(200, schemas.EventPage, "A page of the log", 400, 401, 410, 503),
    operation_class=operation(
        parameters=[AFTER, PAGE_LIMIT, VM, TYPES, SINCE, UNTIL, MIN_REVISION], headers=REVISION
    ),
)
async def list_events(request: AnyRequest) -> Response[bytes]:
    registry = resources.of(request).runtime.registry
    await registry.caught_up(rq.min_revision(request))
    limit = rq.query_int(request, "limit", minimum=1)
    if limit is not None and limit > MAX_LIMIT:
        raise Invalid(f"query parameter limit must be at most {MAX_LIMIT}")
    vm = rq.query_one(request, "vm")
    query = EventQuery(
        after=await _start(request, registry),
        limit=limit or DEFAULT_LIMIT,
        vm_id=None if vm is None else valid_vm_id(vm, "query parameter vm"),
        types=_types(request),
        since=_time(request, "since"),
        until=_time(request, "until"),
        max_bytes=PAGE_BYTES,
    )
    return _page(await registry.events(query), registry)


@get(
    "/registry/vms/{vm_id:str}/history",
    responses=answers(200, schemas.EventPage, "A page of the VM's events", 400, 401, 404, 410),
    operation_class=operation(parameters=[AFTER, LIMIT], headers=REVISION),
)
async def vm_history(vm_id: VmId, request: AnyRequest) -> Response[bytes]:
    registry = resources.of(request).runtime.registry
    if not await registry.vm_known(vm_id):
        raise NotFound(f"VM {vm_id!r} was never registered")
    limit = rq.query_int(request, "limit", minimum=1)
    query = EventQuery(
        after=await _start(request, registry),
        limit=limit or (1 << 62),
        vm_id=vm_id,
        # Without a limit this was all of one VM's events at once: 20,000 PATCHes of 64 KiB
        # metadata held 1.3 GB for one request. `next` goes on from where the page ended.
        max_bytes=PAGE_BYTES,
    )
    return _page(await registry.events(query), registry)


ROUTES = [list_events, vm_history]
