"""`/health`: never behind auth, cheap, and honest about what degrades the registry."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from vm_registry.api import schemas, wire
from vm_registry.api.openapi import OPEN, answers
from vm_registry.feed.broker import Broker
from vm_registry.service.registry import Registry


@get("/health", security=OPEN, responses=answers(200, schemas.Health, "Up"))
async def health(request: Request[Any, Any, Any], registry: Registry) -> Response[bytes]:
    broker: Broker = request.app.state.broker
    body: schemas.Health = {
        "status": "ok",
        "revision": registry.revision,
        "vms": len(registry.state.entries),
        "subscribers": broker.subscribers,
        "stalenessSuspended": registry.staleness_suspended,
    }
    if registry.staleness_suspended:
        body["warning"] = "mass expiry suspected: staleness is suspended until heartbeats resume"
    return wire.json(body)


ROUTES = [health]
