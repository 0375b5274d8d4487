"""`GET /metrics`: Prometheus's text format (what it holds: `api/metrics.py`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from vm_registry.api import resources

# litestar appends "; charset=utf-8" to every text type itself: given the library's full
# content type, the answer said it twice (`...; charset=utf-8; charset=utf-8`).
MEDIA_TYPE = CONTENT_TYPE_LATEST.removesuffix("; charset=utf-8")


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    telemetry = resources.of(request).telemetry
    return Response(await telemetry.render(), media_type=MEDIA_TYPE)


ROUTES = [metrics]
