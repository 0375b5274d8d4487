"""`/health`: never behind auth, cheap, and honest about what degrades the registry. Its plain
form is answered by the lean path (`api/lean.py`); both work it out in `api/hot.py`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from vm_registry.api import hot, resources, responses, schemas
from vm_registry.api.openapi import OPEN, answers


@get(
    "/health",
    security=OPEN,
    responses=answers(200, schemas.Health, "Up", 503),
    opt={"lean": "health"},
)
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    return responses.answer(hot.health(resources.of(request).runtime))


ROUTES = [health]
