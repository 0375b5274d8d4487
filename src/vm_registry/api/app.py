"""`create_app(runtime)`: the litestar app over a `Runtime` (service/runtime.py).

The runtime owns every resource and starts them in its own order; the app's lifespan only runs
it, and puts one typed object in the app's state (`api/resources.py`), which every route reads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig

from vm_registry.api import edge, errors, lean, metrics, openapi, resources, schemas, wire
from vm_registry.api.auth import Guard, auth_middleware, load_tokens
from vm_registry.api.request_log import observed
from vm_registry.api.routes import health, history, stream, ui, vms
from vm_registry.api.routes import metrics as metrics_route
from vm_registry.service.runtime import Runtime
from vm_registry.settings import Settings
from vm_registry.wire.render import EntryRenderer

log = logging.getLogger("vm_registry")

ROUTES = [health, vms, history, stream, ui, metrics_route]
OPENAPI = OpenAPIConfig(
    title="vm-registry",
    version="0.1.0",
    components=openapi.COMPONENTS,
    security=openapi.SECURITY,
)


def create_app(runtime: Runtime, *, lean_routes: bool = True) -> Litestar:
    """`lean_routes=False` answers every request through litestar's handlers: the reference
    the lean path is compared with (tests/api/test_lean_routes.py)."""
    settings = runtime.settings
    tokens = load_tokens(settings.auth_token, settings.tokens_file, settings.tokens_env)
    guard = Guard(tokens, metrics_public=settings.metrics_public)
    if not tokens.enabled:
        log.warning("VERS_AUTH_TOKEN is not set: the API is open to anyone who can reach it")
    telemetry = metrics.Telemetry()
    runtime.watch_writer(telemetry.writer)
    app = Litestar(
        route_handlers=[handler for module in ROUTES for handler in module.ROUTES],
        exception_handlers=errors.HANDLERS,
        middleware=[auth_middleware(guard)],
        cors_config=_cors(settings),
        lifespan=[_serving(runtime, telemetry)],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OPENAPI,
        plugins=[schemas.ClosedShapes()],
        debug=False,
        logging_config=None,  # `vm-registry serve` configures logging (telemetry/log_format.py)
    )
    app.state[resources.KEY] = resources.Resources(
        runtime, EntryRenderer(lambda: runtime.registry.vms), telemetry
    )
    # Outside routing: HEAD on every GET route, and JSON for the answers made below our handlers.
    app.asgi_handler = edge.wrap(app.asgi_handler)
    # The hot routes' plain requests skip the two layers above (api/lean.py).
    if lean_routes:
        app.asgi_handler = lean.routes(app, guard, app.asgi_handler)
        if settings.fast_path:  # the plainest of them, answered by the HTTP protocol itself
            wire.attach(app, guard)
    # Outermost, so 404s, 405s, 401s and the edge's own answers are counted and logged too, and
    # every answer gets its request id and the security headers.
    app.asgi_handler = observed(app.asgi_handler, telemetry.http)
    return app


@asynccontextmanager
async def _serving(runtime: Runtime, telemetry: metrics.Telemetry) -> AsyncIterator[None]:
    async with runtime:
        telemetry.attach(runtime)
        try:
            yield
        finally:
            telemetry.detach()


def _cors(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(allow_origins=list(settings.cors_origins))
