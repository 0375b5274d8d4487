"""The hot routes' answers, worked out once for both ways a request reaches them.

`/health`, a heartbeat, one VM, discover and the fleet's list are most of an agent fleet's
traffic; a registration is what a fleet coming up (or back) sends. Their plain form (no query
string, no read-your-writes header) is answered by the lean path (`api/lean.py`), which skips
litestar's per-request machinery; everything else about them
(`?at=`, `?index=`, `?healthy=`, HEAD, CORS) goes through the litestar handlers in
`api/routes/`. Both call the functions here, so the status, the JSON, `ETag` and
`X-Registry-Revision` cannot drift apart; `tests/api/test_lean_routes.py` compares the two
answers byte for byte.

An `Answer` is what a route decides: status, JSON body, and the headers that come before
`content-type` (the litestar handlers pass them to their `Response` in the same order). Errors
are raised as domain errors and rendered by the one table in `api/errors.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson

from vm_registry.api import schemas
from vm_registry.api.auth import Principal
from vm_registry.api.request_inputs import may_write, parsed_json
from vm_registry.domain import commands as cmd
from vm_registry.domain import validation
from vm_registry.domain.model import Entry
from vm_registry.domain.outcome import Outcome
from vm_registry.domain.selectors import Selector
from vm_registry.domain.timestamps import to_iso
from vm_registry.service.registry import Registry
from vm_registry.service.retention import RetentionFigures
from vm_registry.service.runtime import Runtime
from vm_registry.wire import bodies
from vm_registry.wire.render import EntryRenderer

Headers = list[tuple[bytes, bytes]]
# Reads the request body, raising the framework's own refusals (too large, client gone).
Body = Callable[[], Awaitable[bytes]]
REVISION = b"x-registry-revision"


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: Headers


def error(message: str, status: int, headers: Headers | None = None) -> Answer:
    return Answer(status, orjson.dumps({"error": message}), headers or [])


def str_headers(headers: Headers) -> dict[str, str]:
    """For a litestar `Response`: the same names (it lowercases them anyway), in order."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}


def entry(registry: Registry, renderer: EntryRenderer, item: Entry, status: int = 200) -> Answer:
    body = renderer.encode(item, registry.is_stale(item))
    return Answer(
        status, body, [(REVISION, b"%d" % registry.revision), (b"etag", b'"%d"' % item.revision)]
    )


def listing(
    registry: Registry, renderer: EntryRenderer, entries: list[Entry], past: int | None = None
) -> Answer:
    if past is None:
        now = registry.clock()
        stale = [registry.is_stale(e, now) for e in entries]
        revision = registry.revision
    else:  # the past's staleness is what the log recorded; the clock now says nothing of it
        stale = [e.stale for e in entries]
        revision = past
    body = renderer.list_body(entries, stale, registry.vms)
    return Answer(200, body, [(REVISION, b"%d" % revision)])


def one_vm(registry: Registry, renderer: EntryRenderer, vm_id: str) -> Answer:
    found = registry.get(vm_id)
    if found is None:
        # With the revision: a blocking read can wait for the VM to appear from there.
        revision = [(REVISION, b"%d" % registry.revision)]
        return error(f"VM {vm_id!r} is not registered", 404, revision)
    return entry(registry, renderer, found)


def discover(
    registry: Registry,
    renderer: EntryRenderer,
    role: str,
    healthy: bool = False,
    selector: Selector | None = None,
) -> Answer:
    validation.role(role, where="role in the path")
    return listing(registry, renderer, selected(registry.discover(role, healthy=healthy), selector))


def selected(entries: list[Entry], selector: Selector | None) -> list[Entry]:
    """The entries whose metadata matches `selector` (all of them without one)."""
    if selector is None:
        return entries
    return [e for e in entries if selector.matches(e.metadata)]


async def heartbeat(
    runtime: Runtime, vm_id: str, principal: Principal, actor: dict[str, Any]
) -> Answer:
    outcome = await runtime.execute(heartbeat_command(vm_id, principal), actor)
    return heartbeat_answer(runtime, vm_id, outcome)


def heartbeat_soon(
    runtime: Runtime, vm_id: str, principal: Principal, actor: dict[str, Any]
) -> asyncio.Future[Outcome] | None:
    """`heartbeat` for a caller answering from a callback (`api/wire.py`): the outcome's
    future, for `heartbeat_answer`; None when the writer's queue is full (then `heartbeat`)."""
    return runtime.execute_soon(heartbeat_command(vm_id, principal), actor)


def heartbeat_command(vm_id: str, principal: Principal) -> cmd.Heartbeat:
    return cmd.Heartbeat(vm_id, agent=may_write(principal))


def heartbeat_answer(runtime: Runtime, vm_id: str, outcome: Outcome) -> Answer:
    assert outcome.entry is not None
    body: schemas.HeartbeatAnswer = {
        "id": vm_id,
        "lastSeen": to_iso(outcome.entry.last_seen),
        "revision": outcome.event.seq,
    }
    return Answer(200, orjson.dumps(body), [(REVISION, b"%d" % runtime.registry.revision)])


async def register(
    runtime: Runtime,
    renderer: EntryRenderer,
    principal: Principal,
    body: Body,
    actor: dict[str, Any],
) -> Answer:
    """`POST /registry/vms`. The body is read only once the caller may write: a read-only
    token gets its 403 whatever it sent, before any of it is read."""
    may_write(principal)
    limits = runtime.settings
    raw = await body()
    data = bodies.registration(parsed_json(raw, limits.max_entry_bytes), limits.max_entry_bytes)
    vm_id = data.pop("id")
    command = cmd.Register(vm_id, data, max_vms=limits.max_vms)
    outcome = await runtime.execute(command, actor)
    assert outcome.entry is not None
    return entry(runtime.registry, renderer, outcome.entry, 201)


def _retained(figures: RetentionFigures, archived: bool) -> schemas.Retained:
    window: schemas.Retained = {
        "oldestSeq": figures.oldest_seq,
        "oldestAt": to_iso(figures.oldest_at) if figures.oldest_at is not None else None,
        "archived": archived,
        "droppedEvents": figures.dropped,
    }
    if figures.problem is not None:
        window["problem"] = figures.problem
    return window


def health(runtime: Runtime) -> Answer:
    found = runtime.health()
    if found.log_file_problem is not None:  # the registry cannot keep what it is told
        problem = found.log_file_problem
        return error(f"the event log is unavailable: the log file {problem}", 503)
    body: schemas.Health = {
        "status": "ok",
        "revision": found.revision,
        "vms": found.vms,
        "subscribers": found.subscribers,
        "stalenessSuspended": found.staleness_suspended,
        "head": found.head,
        "lag": found.lag,
        "leader": found.leader,
        "heldQueries": found.held_queries,
    }
    if found.log_unreachable is not None:
        body["logUnreachable"] = found.log_unreachable
    if found.checks_problem is not None:
        # Still 200: the API serves. But statuses are frozen while probes fail, and `?healthy=`
        # answers from them, so this is no longer "ok" (docs/health.md).
        body["status"] = "degraded"
        body["healthChecks"] = {
            "failingRounds": found.checks_failing_rounds,
            "problem": found.checks_problem,
        }
    if found.retention is not None:
        body["retention"] = _retained(found.retention, found.retention_archived)
    if found.staleness_suspended:
        body["warning"] = "mass expiry suspected: staleness is suspended until heartbeats resume"
    return Answer(200, orjson.dumps(body), [])
