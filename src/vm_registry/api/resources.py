"""What a route works with, and the one way every route reaches it: `of(request)`.

`Resources` holds the service's `Runtime` (commands, queries, subscriptions, health) and the
edge's own objects (the entry renderer's cache, the metrics). `create_app` puts it in the app's
state, under one name, once; nothing becomes a module global.

Not by litestar's dependency injection: it resolves two or more dependencies of one handler in
an anyio task group, a task per dependency per request. Measured in process on `GET
/registry/discover/{role}` (two dependencies), that was about 40 % of the request's CPU, and a
single dependency still costs a signature-model pass. `of` is one attribute read on the app,
and works from a raw ASGI scope too (`of_scope`), for handlers that take no `Request`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request
from litestar.types import Scope

from vm_registry.service.runtime import Runtime
from vm_registry.wire.render import EntryRenderer

if TYPE_CHECKING:
    from vm_registry.api.metrics import Telemetry

# The key in the app's state.
KEY = "resources"


@dataclass(frozen=True, slots=True)
class Resources:
    runtime: Runtime
    renderer: EntryRenderer
    telemetry: Telemetry


def of(request: Request[Any, Any, Any]) -> Resources:
    found: Resources = request.app.state[KEY]
    return found


def of_scope(scope: Scope) -> Resources:
    found: Resources = scope["litestar_app"].state[KEY]
    return found


def of_app(app: Litestar) -> Resources:
    found: Resources = app.state[KEY]
    return found
