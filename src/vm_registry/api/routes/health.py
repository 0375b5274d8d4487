"""`/health`: never behind auth, cheap, and honest about what degrades the registry."""

from __future__ import annotations

from litestar import Response, get

from vm_registry.api import wire
from vm_registry.service.registry import Registry


@get("/health")
async def health(registry: Registry) -> Response[bytes]:
    body = {
        "status": "ok",
        "revision": registry.revision,
        "vms": len(registry.state.entries),
        "stalenessSuspended": registry.staleness_suspended,
    }
    if registry.staleness_suspended:
        body["warning"] = "mass expiry suspected: staleness is suspended until heartbeats resume"
    return wire.json(body)


ROUTES = [health]
