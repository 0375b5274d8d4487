"""What a `Heartbeater` keeps about its beats, and what it does when one fails or finds the entry
gone: the part both flavours of a beat (`heartbeat_aio.py`, and `heartbeat_sync.py` generated
from it) report to, so that they need nothing of the `Heartbeater` itself."""

from __future__ import annotations

import logging

from vm_registry.client.errors import RegistryError
from vm_registry.client.models import Registration

log = logging.getLogger("vm_registry.client.heartbeater")


class HeartbeatRecord:
    def __init__(self, id: str, registration: Registration | None) -> None:
        self.id = id
        # What to register again when the entry is found gone.
        self.registration = registration
        self.beats = 0
        self.reregistrations = 0
        self.failures = 0
        self.last_error: RegistryError | None = None

    def beaten(self) -> None:
        self.beats += 1
        log.debug("heartbeat %s", self.id)

    def failed(self, error: Exception) -> None:
        self.failures += 1
        if isinstance(error, RegistryError):
            self.last_error = error
            log.warning("heartbeat for %s failed: %s", self.id, error)
        else:
            log.exception("heartbeat for %s failed unexpectedly", self.id, exc_info=error)

    def lost(self) -> Registration | None:
        """The entry is gone: the registration to restore it from, if there is one."""
        if self.registration is None:
            log.warning("%s is not registered, and there is no registration to restore", self.id)
        else:
            log.warning("%s is not registered any more; registering it again", self.id)
        return self.registration

    def restored(self) -> None:
        self.reregistrations += 1
        log.info("registered %s again", self.id)
