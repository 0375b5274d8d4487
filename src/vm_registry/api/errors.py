"""One table from domain errors to HTTP statuses, and the handlers that render every failure
(including litestar's own 404, 405 and 413) as `{"error": "..."}`. No stack trace ever leaves
the server."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from vm_registry.api import responses
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


RETRY = {"Retry-After": "1"}


def registry_answer(exc: domain.RegistryError) -> tuple[int, str, dict[str, str] | None]:
    """Status, message and extra headers of a domain error: the table's one reading, shared
    by litestar's handler below and the lean hot routes (`api/lean.py`)."""
    status = STATUS_OF.get(type(exc), 400)
    return status, exc.message, RETRY if status == 503 else None


def store_answer(method: str, path: str, exc: StoreError) -> tuple[int, str, dict[str, str]]:
    """A read the store could not serve (the writer turns its own failures into `Unavailable`).
    The client gets the cause and a 503 it may retry; the full message, which names files, goes
    only to the server log."""
    log.error("store failure on %s %s: %s", method, path, exc)
    if isinstance(exc, StoreCorrupt):  # its reason may name the file: keep that to the log
        message = "the event log cannot be read here; the server log has the details"
    else:
        message = f"the event log is unavailable ({exc.reason}); retry later"
    return 503, message, RETRY


def registry_error(_: Request[Any, Any, Any], exc: domain.RegistryError) -> Response[bytes]:
    status, message, headers = registry_answer(exc)
    return responses.error(message, status, headers)


def store_error(request: Request[Any, Any, Any], exc: StoreError) -> Response[bytes]:
    status, message, headers = store_answer(request.method, request.url.path, exc)
    return responses.error(message, status, headers)


def http_answer(method: str, path: str, exc: HTTPException) -> tuple[int, str, dict[str, str]]:
    """litestar's own refusals (no route, a body over the limit, a client gone mid-body), also
    when the lean registration (`api/lean.py`) raises them while reading a body."""
    if isinstance(exc, NotFoundException) and exc.detail in ("Not Found", ""):
        message = f"no route for {method} {path}"
    elif isinstance(exc, MethodNotAllowedException):
        message = f"method {method} is not allowed on {path}"
    elif exc.status_code == 413:
        message = "request body is larger than the limit of 1 MiB"
    else:
        message = str(exc.detail)
    return exc.status_code, message, dict(exc.headers or {})


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status, message, headers = http_answer(request.method, request.url.path, exc)
    return responses.error(message, status, headers)


def internal_answer(method: str, path: str, exc: Exception) -> tuple[int, str]:
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    return 500, "internal error; the server log has the details"


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status, message = internal_answer(request.method, request.url.path, exc)
    return responses.error(message, status)


HANDLERS: dict[type[Exception] | int, Any] = {
    domain.RegistryError: registry_error,
    StoreError: store_error,
    HTTPException: http_error,
    Exception: internal_error,
}
