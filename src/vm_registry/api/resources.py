"""The lifespan's resources, as the hot routes reach them: from the app's state, through the
request they already take.

Litestar's dependency injection resolves two or more dependencies of one handler in an anyio
task group, a task per dependency per request. Measured in process on `GET
/registry/discover/{role}` (two dependencies), that was about 40 % of the request's CPU, and
a single dependency still costs a signature-model pass. The objects are the very ones the
lifespan put in app state (what the providers in `app.py` return), so nothing becomes a
module global; the routes that are not hot keep the injected form.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from vm_registry.api.wire import EntryRenderer
from vm_registry.service.changes import Changes
from vm_registry.service.history import TimeMachine
from vm_registry.service.registry import Registry


def registry(request: Request[Any, Any, Any]) -> Registry:
    found: Registry = request.app.state.registry
    return found


def renderer(request: Request[Any, Any, Any]) -> EntryRenderer:
    found: EntryRenderer = request.app.state.renderer
    return found


def history(request: Request[Any, Any, Any]) -> TimeMachine:
    found: TimeMachine = request.app.state.history
    return found


def changes(request: Request[Any, Any, Any]) -> Changes:
    found: Changes = request.app.state.changes
    return found
