"""One table from domain errors to HTTP statuses, and the handlers that render every failure
(including litestar's own 404, 405 and 413) as `{"error": "..."}`. No stack trace ever leaves
the server."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from vm_registry.api import wire
from vm_registry.domain import errors as domain
from vm_registry.persistence.errors import StoreCorrupt, StoreError

log = logging.getLogger("vm_registry.api")

STATUS_OF: dict[type[domain.RegistryError], int] = {
    domain.Invalid: 400,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Gone: 410,
    domain.PreconditionFailed: 412,
    domain.TooLarge: 413,
    domain.Unavailable: 503,
    domain.Full: 507,
}


def registry_error(_: Request[Any, Any, Any], exc: domain.RegistryError) -> Response[bytes]:
    status = STATUS_OF.get(type(exc), 400)
    headers = {"Retry-After": "1"} if status == 503 else None
    return wire.error(exc.message, status, headers)


def store_error(request: Request[Any, Any, Any], exc: StoreError) -> Response[bytes]:
    """A read the store could not serve (the writer turns its own failures into `Unavailable`).
    The client gets the cause and a 503 it may retry; the full message, which names files, goes
    only to the server log."""
    log.error("store failure on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, StoreCorrupt):  # its reason may name the file: keep that to the log
        message = "the event log cannot be read here; the server log has the details"
    else:
        message = f"the event log is unavailable ({exc.reason}); retry later"
    return wire.error(message, 503, {"Retry-After": "1"})


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, NotFoundException) and exc.detail in ("Not Found", ""):
        message = f"no route for {request.method} {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif exc.status_code == 413:
        message = "request body is larger than the limit of 1 MiB"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    return wire.error(message, exc.status_code, headers)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return wire.error("internal error; the server log has the details", 500)


HANDLERS: dict[type[Exception] | int, Any] = {
    domain.RegistryError: registry_error,
    StoreError: store_error,
    HTTPException: http_error,
    Exception: internal_error,
}
