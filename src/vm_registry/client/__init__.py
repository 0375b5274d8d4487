"""A typed client for the VM registry: `RegistryClient` (blocking), `AsyncRegistryClient`
(asyncio), a reconnecting change-feed `watch`, and a background `Heartbeater`.

    from vm_registry.client import RegistryClient

    with RegistryClient() as registry:          # VERS_INFRA_URL, VERS_AUTH_TOKEN
        for vm in registry.discover("lieutenant"):
            print(vm.name, vm.address)

It depends on httpx, httpx-sse and orjson only: nothing of the server is imported.
"""

from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    RegistryError,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from vm_registry.client.heartbeater import Heartbeater
from vm_registry.client.models import (
    EVENT_TYPES,
    ROLES,
    STATUSES,
    Entry,
    Event,
    Heartbeat,
    Listing,
    Registration,
    Service,
    Snapshot,
    WatchItem,
)
from vm_registry.client.sync import RegistryClient
from vm_registry.client.waiting import WaitTimeout

__all__ = [
    "EVENT_TYPES",
    "ROLES",
    "STATUSES",
    "AsyncRegistryClient",
    "Conflict",
    "Entry",
    "Event",
    "Forbidden",
    "Gone",
    "Heartbeat",
    "Heartbeater",
    "Invalid",
    "Listing",
    "NotFound",
    "PreconditionFailed",
    "ProtocolError",
    "Registration",
    "RegistryClient",
    "RegistryError",
    "Service",
    "Snapshot",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "WaitTimeout",
    "WatchItem",
]
