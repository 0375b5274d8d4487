"""Commands, and `decide`: whether a command is allowed against the current entry, and which
event it becomes. Like the fold, deciding is pure; the writer calls it in commit order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vm_registry.domain import events as ev
from vm_registry.domain.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from vm_registry.domain.model import Entry


@dataclass(frozen=True, slots=True)
class Register:
    vm_id: str
    data: dict[str, Any]  # validated registration fields, without the id


@dataclass(frozen=True, slots=True)
class Update:
    vm_id: str
    data: dict[str, Any]  # validated changes
    if_match: int | None = None
    agent: str | None = None  # set when a scoped agent token asks: it must own the VM


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


Command = Register | Update | Heartbeat | Deregister | MarkStale


@dataclass(frozen=True, slots=True)
class Decision:
    type: str
    data: dict[str, Any] = field(default_factory=dict)


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


def decide(entry: Entry | None, command: Command) -> Decision:
    if isinstance(command, Heartbeat):
        _check_owner(_existing(entry, command.vm_id), command.agent)
        return Decision(ev.HEARTBEAT)
    if isinstance(command, Register):
        if entry is not None:
            raise Conflict(f"VM {command.vm_id!r} is already registered")
        return Decision(ev.REGISTERED, command.data)
    if isinstance(command, Update):
        current = _existing(entry, command.vm_id)
        _check_owner(current, command.agent)
        _check_revision(current, command.if_match)
        return Decision(ev.UPDATED, command.data)
    if isinstance(command, Deregister):
        current = _existing(entry, command.vm_id)
        _check_owner(current, command.agent)
        _check_revision(current, command.if_match)
        return Decision(ev.DEREGISTERED)
    if isinstance(command, MarkStale):
        current = _existing(entry, command.vm_id)
        if current.revision != command.revision or current.stale or current.status != "running":
            raise Conflict(f"VM {command.vm_id!r} was touched since the reaper looked")
        return Decision(ev.STALE)
    raise TypeError(f"unknown command {command!r}")
