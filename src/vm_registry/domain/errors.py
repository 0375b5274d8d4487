"""Domain errors. They know nothing of HTTP: the API maps each to a status in one table."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error the registry reports to a caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(RegistryError):
    """The command is malformed; nothing was written."""


class NotFound(RegistryError):
    """The VM (or other resource) does not exist."""


class Conflict(RegistryError):
    """The command contradicts the current state, such as registering a taken id."""


class PreconditionFailed(RegistryError):
    """A conditional command (If-Match) saw a different revision than the caller expected."""


class Gone(RegistryError):
    """The requested history is older than what the log still holds (compacted)."""


class Forbidden(RegistryError):
    """The caller is authenticated but its token does not allow this command."""


class Unavailable(RegistryError):
    """The registry cannot accept writes right now (storage failure, overload)."""


class TooLarge(RegistryError):
    """The entry would be larger than the configured limit; nothing was written."""


class Full(RegistryError):
    """The registry holds as many VMs as it is configured to; nothing was written."""
