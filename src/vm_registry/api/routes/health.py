"""`/health`: never behind auth, cheap, and honest about what degrades the registry."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from vm_registry.api import resources, schemas, wire
from vm_registry.api.openapi import OPEN, answers


@get("/health", security=OPEN, responses=answers(200, schemas.Health, "Up", 503))
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    found = resources.of(request).runtime.health()
    if found.log_file_problem is not None:  # the registry cannot keep what it is told
        return wire.error(
            f"the event log is unavailable: the log file {found.log_file_problem}", 503
        )
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
    if found.staleness_suspended:
        body["warning"] = "mass expiry suspected: staleness is suspended until heartbeats resume"
    return wire.json(body)


ROUTES = [health]
