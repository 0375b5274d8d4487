"""The client's exceptions: one type per server status, each carrying the server's message.

Every failure a caller can meet is a `RegistryError`, so `except RegistryError` is enough to
keep a program alive. A connection failure is `Unreachable`, a kind of `Unavailable`: to the
caller, a registry that is down and one that answers 503 call for the same reaction (retry
later), so both are caught by `except Unavailable`.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """A request the registry refused, or could not be asked."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message if self.status is None else f"{self.message} (HTTP {self.status})"


class Invalid(RegistryError):
    status = 400


class Unauthorized(RegistryError):
    status = 401


class Forbidden(RegistryError):
    status = 403


class NotFound(RegistryError):
    status = 404


class Conflict(RegistryError):
    status = 409


class Gone(RegistryError):
    """The requested history was compacted away: resuming there would leave a gap."""

    status = 410


class PreconditionFailed(RegistryError):
    status = 412


class Unavailable(RegistryError):
    status: int | None = 503


class Unreachable(Unavailable):
    """No answer at all: refused connection, DNS failure, timeout, or a dropped response."""

    status = None


class ProtocolError(RegistryError):
    """The server answered something this client cannot read (not the registry, or a proxy)."""


_BY_STATUS: dict[int, type[RegistryError]] = {
    400: Invalid,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    503: Unavailable,
}


def for_status(status: int, body: Any, fallback: str) -> RegistryError:
    """The exception for an error response; `body` is its decoded JSON, if it had any."""
    message = fallback
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    kind = _BY_STATUS.get(status)
    if kind is None:
        # 413, 5xx from a proxy, and anything new: still typed, still with the status.
        kind = Unavailable if status >= 500 else RegistryError
    return kind(message, status)
