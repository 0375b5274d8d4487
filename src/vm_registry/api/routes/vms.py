"""`/registry/vms` and `/registry/discover/{role}`: the contract agents use today."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post

from vm_registry.api import blocking, hot, resources, responses, schemas
from vm_registry.api import request_inputs as rq
from vm_registry.api.openapi import (
    AFTER_HEARTBEAT,
    AFTER_REGISTER,
    AFTER_UPDATE,
    AS_OF,
    AT,
    ENTRY_HEADERS,
    HEALTHY,
    IF_MATCH,
    INDEX,
    MIN_REVISION,
    REVISION,
    ROLE,
    SELECTOR,
    STATUS,
    WAIT,
    RoleName,
    VmId,
    answers,
    operation,
)
from vm_registry.domain import commands as cmd
from vm_registry.domain import validation
from vm_registry.domain.errors import Invalid, NotFound
from vm_registry.domain.model import ROLES, STATUSES, Entry
from vm_registry.domain.timestamps import parse_iso
from vm_registry.service.blocking_queries import Scope, shown
from vm_registry.service.registry import Registry
from vm_registry.service.time_machine import TimeMachine
from vm_registry.wire import bodies

AnyRequest = Request[Any, Any, Any]


def _entry_response(
    registry: Registry, renderer: responses.EntryRenderer, entry: Entry, status_code: int = 200
) -> Response[bytes]:
    return responses.answer(hot.entry(registry, renderer, entry, status_code))


async def _past_point(request: AnyRequest, registry: Registry, history: TimeMachine) -> int | None:
    """`?at=<seq>` or `?asOf=<ISO time>`: the seq to travel to, or None for now."""
    at = rq.query_int(request, "at")
    as_of = rq.query_one(request, "asOf")
    if at is not None and as_of is not None:
        raise Invalid("give either at or asOf, not both")
    if as_of is not None:
        try:
            moment = parse_iso(as_of)
        except ValueError:
            raise Invalid(f"asOf={as_of!r} is not an ISO 8601 time") from None
        return await history.seq_as_of(moment, registry.clock())
    return at


@post(
    "/registry/vms",
    status_code=201,
    responses=answers(201, schemas.Entry, "Registered", 400, 401, 403, 409, 413, 503, 507),
    operation_class=operation(
        body=schemas.REGISTRATION, headers=ENTRY_HEADERS, links=AFTER_REGISTER
    ),
    opt={"lean": "register"},
)
async def register(request: AnyRequest) -> Response[bytes]:
    found = resources.of(request)
    who, actor = rq.principal(request), rq.actor(request)
    answer = await hot.register(found.runtime, found.renderer, who, request.body, actor)
    return responses.answer(answer)


@get(
    "/registry/vms",
    responses=answers(200, schemas.EntryList, "The VMs, now or in the past", 400, 401, 410, 503),
    operation_class=operation(
        parameters=[ROLE, STATUS, SELECTOR, AT, AS_OF, MIN_REVISION, INDEX, WAIT],
        headers=REVISION,
    ),
    opt={"lean": "list_vms"},
)
async def list_vms(request: AnyRequest) -> Response[bytes]:
    found = resources.of(request)
    runtime, renderer = found.runtime, found.renderer
    registry, history, queries = runtime.registry, runtime.history, runtime.blocking_queries
    await registry.caught_up(rq.min_revision(request))
    role = rq.query_choice(request, "role", ROLES)
    status = rq.query_choice(request, "status", STATUSES)
    selector = rq.selector(request)

    def scope() -> Scope:
        ids = (e.id for e in hot.selected(registry.entries(role, status), selector))
        return Scope(role=role, status=status, shown=shown(ids), selector=selector)

    await blocking.hold(request, queries, scope)
    past = await _past_point(request, registry, history)
    if past is None:
        now = hot.selected(registry.entries(role, status), selector)
        return responses.answer(hot.listing(registry, renderer, now))
    then = hot.selected(registry.entries(role, status, await history.state_at(past)), selector)
    return responses.answer(hot.listing(registry, renderer, then, past))


@get(
    "/registry/vms/{vm_id:str}",
    responses=answers(200, schemas.Entry, "The entry, now or in the past", 400, 401, 404, 410, 503),
    operation_class=operation(
        parameters=[AT, AS_OF, MIN_REVISION, INDEX, WAIT], headers=ENTRY_HEADERS
    ),
    opt={"lean": "get_vm"},
)
async def get_vm(vm_id: VmId, request: AnyRequest) -> Response[bytes]:
    found = resources.of(request)
    runtime, renderer = found.runtime, found.renderer
    registry, history, queries = runtime.registry, runtime.history, runtime.blocking_queries
    await registry.caught_up(rq.min_revision(request))
    await blocking.hold(request, queries, lambda: Scope(vm_id=vm_id))
    past = await _past_point(request, registry, history)
    if past is not None:
        entry = (await history.state_at(past)).entries.get(vm_id)
        if entry is None:
            raise NotFound(f"VM {vm_id!r} was not registered at seq {past}")
        headers = {responses.REVISION_HEADER: str(past), "ETag": f'"{entry.revision}"'}
        return responses.json(responses.entry(entry, entry.stale), headers=headers)
    return responses.answer(hot.one_vm(registry, renderer, vm_id))


@patch(
    "/registry/vms/{vm_id:str}",
    responses=answers(200, schemas.Entry, "Updated", 400, 401, 403, 404, 412, 413, 503),
    operation_class=operation(
        body=schemas.UPDATE, parameters=[IF_MATCH], headers=ENTRY_HEADERS, links=AFTER_UPDATE
    ),
)
async def update_vm(vm_id: VmId, request: AnyRequest) -> Response[bytes]:
    found = resources.of(request)
    runtime, renderer = found.runtime, found.renderer
    agent = rq.writer(request)
    limits = runtime.settings
    changes = bodies.update(
        await rq.json_body(request, limits.max_entry_bytes), limits.max_entry_bytes
    )
    command = cmd.Update(
        vm_id,
        changes,
        if_match=rq.if_match(request),
        agent=agent,
        max_entry_bytes=limits.max_entry_bytes,
    )
    outcome = await runtime.execute(command, rq.actor(request))
    assert outcome.entry is not None
    return _entry_response(runtime.registry, renderer, outcome.entry)


@delete(
    "/registry/vms/{vm_id:str}",
    status_code=200,
    responses=answers(200, schemas.Deleted, "Deregistered", 400, 401, 403, 404, 412, 503),
    operation_class=operation(parameters=[IF_MATCH], headers=REVISION),
)
async def deregister_vm(vm_id: VmId, request: AnyRequest) -> Response[bytes]:
    runtime = resources.of(request).runtime
    agent = rq.writer(request)
    command = cmd.Deregister(vm_id, if_match=rq.if_match(request), agent=agent)
    outcome = await runtime.execute(command, rq.actor(request))
    body: schemas.Deleted = {"deleted": True, "id": vm_id, "revision": outcome.event.seq}
    return responses.json(body, headers={responses.REVISION_HEADER: str(outcome.event.seq)})


@post(
    "/registry/vms/{vm_id:str}/heartbeat",
    status_code=200,
    responses=answers(200, schemas.HeartbeatAnswer, "Seen", 400, 401, 403, 404, 503),
    operation_class=operation(headers=REVISION, links=AFTER_HEARTBEAT),
    opt={"lean": "heartbeat"},
)
async def heartbeat(vm_id: VmId, request: AnyRequest) -> Response[bytes]:
    runtime = resources.of(request).runtime
    answer = await hot.heartbeat(runtime, vm_id, rq.principal(request), rq.actor(request))
    return responses.answer(answer)


@get(
    "/registry/discover/{role:str}",
    responses=answers(200, schemas.EntryList, "The live VMs with this role", 400, 401, 404, 503),
    operation_class=operation(
        parameters=[HEALTHY, SELECTOR, MIN_REVISION, INDEX, WAIT], headers=REVISION
    ),
    opt={"lean": "discover"},
)
async def discover(role: RoleName, request: AnyRequest) -> Response[bytes]:
    found = resources.of(request)
    registry, renderer = found.runtime.registry, found.renderer
    queries = found.runtime.blocking_queries
    validation.role(role, where="role in the path")
    healthy = rq.query_flag(request, "healthy")
    selector = rq.selector(request)
    await registry.caught_up(rq.min_revision(request))

    def scope() -> Scope:
        ids = (e.id for e in hot.selected(registry.discover(role, healthy=healthy), selector))
        return Scope(role=role, discover=True, healthy=healthy, shown=shown(ids), selector=selector)

    await blocking.hold(request, queries, scope)
    return responses.answer(hot.discover(registry, renderer, role, healthy, selector))


ROUTES = [register, list_vms, get_vm, update_vm, deregister_vm, heartbeat, discover]
