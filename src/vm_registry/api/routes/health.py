"""`/health`: never behind auth, cheap, and honest about what degrades the registry."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from vm_registry.api import resources, schemas, wire
from vm_registry.api.openapi import OPEN, answers
from vm_registry.feed.broker import Broker
from vm_registry.service.health_checks import HealthChecker
from vm_registry.service.leadership import Leadership


@get("/health", security=OPEN, responses=answers(200, schemas.Health, "Up", 503))
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    registry = resources.registry(request)
    broker: Broker = request.app.state.broker
    leadership: Leadership = request.app.state.leadership
    problem = registry.log_file_problem()
    if problem is not None:  # the registry cannot keep what it is told: not healthy
        return wire.error(f"the event log is unavailable: the log file {problem}", 503)
    body: schemas.Health = {
        "status": "ok",
        "revision": registry.revision,
        "vms": len(registry.state.entries),
        "subscribers": broker.subscribers,
        "stalenessSuspended": registry.staleness_suspended,
        "head": registry.log_head,
        "lag": registry.lag,
        "leader": leadership.is_leader,
        "heldQueries": request.app.state.changes.held,
    }
    problem = registry.writer.log_error or leadership.log_error
    if problem is not None:
        body["logUnreachable"] = problem
    checker: HealthChecker | None = request.app.state.health_checker
    if checker is not None and checker.problem is not None:
        # Still 200: the API serves. But statuses are frozen while probes fail, and `?healthy=`
        # answers from them, so this is no longer "ok" (docs/health.md).
        body["status"] = "degraded"
        body["healthChecks"] = {"failingRounds": checker.failing_rounds, "problem": checker.problem}
    if registry.staleness_suspended:
        body["warning"] = "mass expiry suspected: staleness is suspended until heartbeats resume"
    return wire.json(body)


ROUTES = [health]
