"""Commands, and `decide`: whether a command is allowed against the current entry, and which
event it becomes. Like the fold, deciding is pure; the writer calls it in commit order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from vm_registry.domain import events as ev
from vm_registry.domain.errors import Conflict, Forbidden, Full, NotFound, PreconditionFailed
from vm_registry.domain.model import Entry
from vm_registry.domain.validation import check_entry_size


@dataclass(frozen=True, slots=True)
class Register:
    vm_id: str
    data: dict[str, Any]  # validated registration fields, without the id
    max_vms: int | None = None  # refuse when this many VMs are registered (decided in order)


@dataclass(frozen=True, slots=True)
class Update:
    vm_id: str
    data: dict[str, Any]  # validated changes
    if_match: int | None = None
    agent: str | None = None  # set when a scoped agent token asks: it must own the VM
    # The entry after the update (services and metadata, kept or sent) must fit this.
    max_entry_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    vm_id: str
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Deregister:
    vm_id: str
    if_match: int | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class MarkStale:
    """Issued by the reaper. `revision` is what the reaper saw: if anything touched the entry
    since, the VM is alive after all and the command is dropped."""

    vm_id: str
    revision: int


@dataclass(frozen=True, slots=True)
class RecordHealth:
    """Issued by the health checker when a service's status changes. It names the target it
    probed (address, port, path): if the VM changed any of them since, the probe said nothing
    about the service as it is now, and the command is dropped."""

    vm_id: str
    service: str
    status: str  # passing | critical
    detail: str
    address: str
    port: int
    path: str


Command = Register | Update | Heartbeat | Deregister | MarkStale | RecordHealth


@dataclass(frozen=True, slots=True)
class Decision:
    type: str
    data: dict[str, Any] = field(default_factory=dict)


# Every heartbeat decides the same thing: one decision (and one empty payload, never mutated,
# like `Event`'s default) rather than a new one per heartbeat.
_HEARTBEAT: Final = Decision(ev.HEARTBEAT)


def _existing(entry: Entry | None, vm_id: str) -> Entry:
    if entry is None:
        raise NotFound(f"VM {vm_id!r} is not registered")
    return entry


def _check_owner(entry: Entry, agent: str | None) -> None:
    if agent is not None and entry.owner != agent:
        raise Forbidden(f"VM {entry.id!r} was not registered by token {agent!r}")


def _check_revision(entry: Entry, expected: int | None) -> None:
    if expected is not None and entry.revision != expected:
        raise PreconditionFailed(
            f"VM {entry.id!r} is at revision {entry.revision}, not {expected} (If-Match)"
        )


def _conditional(entry: Entry | None, command: Update | Deregister) -> Entry:
    """The entry a conditional write changes: there, the caller's own, at the revision asked."""
    current = _existing(entry, command.vm_id)
    _check_owner(current, command.agent)
    _check_revision(current, command.if_match)
    return current


def _check_room(command: Register, registered: int) -> None:
    if command.max_vms is not None and registered >= command.max_vms:
        raise Full(
            f"the registry holds {registered} VMs, its limit (--max-vms {command.max_vms}); "
            "deregister some first"
        )


def _check_updated_size(entry: Entry, command: Update) -> None:
    data = command.data
    if command.max_entry_bytes is None or ("services" not in data and "metadata" not in data):
        return
    services = data.get("services", entry.services)
    metadata = data.get("metadata", entry.metadata)
    check_entry_size(services, metadata, command.max_entry_bytes)


def decide(entry: Entry | None, command: Command, registered: int = 0) -> Decision:
    """`registered` is how many VMs are registered just before this command, in commit order
    (registration checks it against its cap)."""
    if isinstance(command, Heartbeat):
        _check_owner(_existing(entry, command.vm_id), command.agent)
        return _HEARTBEAT
    if isinstance(command, Register):
        if entry is not None:
            raise Conflict(f"VM {command.vm_id!r} is already registered")
        _check_room(command, registered)
        return Decision(ev.REGISTERED, command.data)
    if isinstance(command, Update):
        _check_updated_size(_conditional(entry, command), command)
        return Decision(ev.UPDATED, command.data)
    if isinstance(command, Deregister):
        _conditional(entry, command)
        return Decision(ev.DEREGISTERED)
    if isinstance(command, MarkStale):
        current = _existing(entry, command.vm_id)
        if current.revision != command.revision or current.stale or current.status != "running":
            raise Conflict(f"VM {command.vm_id!r} was touched since the reaper looked")
        return Decision(ev.STALE)
    if isinstance(command, RecordHealth):
        return _decide_health(_existing(entry, command.vm_id), command)
    raise TypeError(f"unknown command {command!r}")


def _decide_health(entry: Entry, command: RecordHealth) -> Decision:
    target = next(
        (s for s in entry.services or () if s["name"] == command.service and "healthPath" in s),
        None,
    )
    if (
        target is None
        or target["port"] != command.port
        or target["healthPath"] != command.path
        or entry.address != command.address
    ):
        raise Conflict(f"VM {entry.id!r} changed its service {command.service!r} since the probe")
    if entry.status != "running":
        raise Conflict(f"VM {entry.id!r} is {entry.status}: its services are not checked")
    if (entry.health or {}).get(command.service) == command.status:
        raise Conflict(
            f"service {command.service!r} of VM {entry.id!r} is already {command.status}"
        )
    data = {"service": command.service, "status": command.status, "detail": command.detail}
    return Decision(ev.HEALTH, data)
