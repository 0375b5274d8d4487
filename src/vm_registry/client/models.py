"""Typed values for what the registry sends and accepts.

The wire is camelCase JSON with ISO 8601 timestamps; these are snake_case dataclasses with aware
`datetime`s. `from_wire` and `to_wire` are exact inverses for everything the server sends, and
fields this client does not know yet are kept in `extra` rather than dropped, so a newer server
never loses data on its way through an older client (the CLI's `--json` relies on this).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, overload

from vm_registry.client.vocabulary import EVENT_TYPES as EVENT_TYPES
from vm_registry.client.vocabulary import ROLES as ROLES
from vm_registry.client.vocabulary import STATUSES as STATUSES
from vm_registry.client.vocabulary import JsonObject as JsonObject
from vm_registry.client.vocabulary import Role as Role
from vm_registry.client.vocabulary import Status as Status
from vm_registry.client.vocabulary import format_time as format_time
from vm_registry.client.vocabulary import parse_time as parse_time
from vm_registry.client.vocabulary import present


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    port: int
    health_path: str | None = None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Service:
        return cls(name=body["name"], port=body["port"], health_path=body.get("healthPath"))

    @classmethod
    def parse(cls, text: str) -> Service:
        """`name:port[:healthPath]`, the CLI's `--service` form."""
        name, sep, rest = text.partition(":")
        port, _, health = rest.partition(":")
        if not name or not sep or not port.isdigit():
            raise ValueError(f"service {text!r} is not name:port[:healthPath]")
        return cls(name=name, port=int(port), health_path=health or None)

    def to_wire(self) -> JsonObject:
        body: JsonObject = {"name": self.name, "port": self.port}
        if self.health_path is not None:
            body["healthPath"] = self.health_path
        return body


ServiceLike = Service | Mapping[str, Any]


def services_to_wire(services: Sequence[ServiceLike]) -> list[JsonObject]:
    return [s.to_wire() if isinstance(s, Service) else dict(s) for s in services]


def optional_fields(
    status: str | None,
    services: Sequence[ServiceLike] | None,
    metadata: Mapping[str, Any] | None,
    **more: Any,
) -> JsonObject:
    """The optional fields of a registration or an update (a PATCH body is nothing else), as
    the wire has them: only those given."""
    return present(
        status=status,
        services=None if services is None else services_to_wire(services),
        metadata=None if metadata is None else dict(metadata),
        **more,
    )


_ENTRY_FIELDS: Final = frozenset(
    (
        "id",
        "name",
        "role",
        "status",
        "address",
        "services",
        "metadata",
        "registeredBy",
        "registeredAt",
        "lastSeen",
        "revision",
        "stale",
        "health",
    )
)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    role: str
    status: str
    address: str
    registered_by: str
    registered_at: datetime
    last_seen: datetime
    revision: int | None = None
    stale: bool = False
    services: tuple[Service, ...] | None = None
    metadata: JsonObject | None = None
    extra: JsonObject = field(default_factory=dict)
    # Per checked service, "passing" or "critical"; None when the registry checks none.
    health: dict[str, str] | None = None

    @property
    def healthy(self) -> bool:
        """No checked service is critical (what `discover(..., healthy=True)` keeps)."""
        return "critical" not in (self.health or {}).values()

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Entry:
        services = body.get("services")
        return cls(
            id=body["id"],
            name=body["name"],
            role=body["role"],
            status=body["status"],
            address=body["address"],
            registered_by=body["registeredBy"],
            registered_at=parse_time(body["registeredAt"]),
            last_seen=parse_time(body["lastSeen"]),
            revision=body.get("revision"),
            stale=bool(body.get("stale", False)),
            services=None if services is None else tuple(Service.from_wire(s) for s in services),
            metadata=body.get("metadata"),
            extra={k: v for k, v in body.items() if k not in _ENTRY_FIELDS},
            health=None if body.get("health") is None else dict(body["health"]),
        )

    def to_wire(self) -> JsonObject:
        body: JsonObject = {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "address": self.address,
        }
        if self.services is not None:
            body["services"] = [s.to_wire() for s in self.services]
        if self.metadata is not None:
            body["metadata"] = self.metadata
        body["registeredBy"] = self.registered_by
        body["registeredAt"] = format_time(self.registered_at)
        body["lastSeen"] = format_time(self.last_seen)
        if self.revision is not None:
            body["revision"] = self.revision
        body["stale"] = self.stale
        if self.health is not None:
            body["health"] = self.health
        body.update(self.extra)
        return body

    def registration(self) -> Registration:
        """What would register this entry again, as it is now."""
        return Registration(
            id=self.id,
            name=self.name,
            role=self.role,
            address=self.address,
            registered_by=self.registered_by,
            status=self.status,
            services=self.services,
            metadata=self.metadata,
        )


@dataclass(frozen=True, slots=True)
class Registration:
    """The request body of a registration, kept so it can be replayed after the entry is lost."""

    id: str
    name: str
    role: str
    address: str
    registered_by: str
    status: str | None = None
    services: Sequence[ServiceLike] | None = None
    metadata: Mapping[str, Any] | None = None

    def to_wire(self) -> JsonObject:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "address": self.address,
            "registeredBy": self.registered_by,
            **optional_fields(self.status, self.services, self.metadata),
        }


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    type: str
    vm_id: str
    at: datetime
    actor: JsonObject = field(default_factory=dict)
    data: JsonObject = field(default_factory=dict)
    # The entry after the event, on the change feed only; None after a deregistration.
    vm: Entry | None = None
    extra: JsonObject = field(default_factory=dict)
    # On a feed with a selector: the VM left the watched set (it is still registered).
    left: bool = False

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Event:
        vm = body.get("vm")
        known = ("seq", "type", "vmId", "at", "actor", "data", "vm", "left")
        return cls(
            seq=body["seq"],
            type=body["type"],
            vm_id=body["vmId"],
            at=parse_time(body["at"]),
            actor=body.get("actor") or {},
            data=body.get("data") or {},
            vm=None if vm is None else Entry.from_wire(vm),
            extra={k: v for k, v in body.items() if k not in known},
            left=body.get("left") is True,
        )

    def to_wire(self, with_vm: bool = False) -> JsonObject:
        """The event as the log serves it; `with_vm` adds `vm` as the change feed sends it."""
        body: JsonObject = {"left": True} if self.left else {}
        body |= {
            "seq": self.seq,
            "type": self.type,
            "vmId": self.vm_id,
            "at": format_time(self.at),
            "actor": self.actor,
            "data": self.data,
        }
        body.update(self.extra)
        if with_vm:
            body["vm"] = None if self.vm is None else self.vm.to_wire()
        return body


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The first item of `watch(snapshot=True)`: the fleet (as filtered) at `revision`.

    It comes again, whole, if the watch had to re-list, so a mirror replaces its state with it.
    """

    revision: int
    vms: tuple[Entry, ...]

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Snapshot:
        return cls(revision=body["revision"], vms=tuple(Entry.from_wire(v) for v in body["vms"]))

    def to_wire(self) -> JsonObject:
        return {"revision": self.revision, "vms": [v.to_wire() for v in self.vms]}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    id: str
    last_seen: datetime
    # The seq of the heartbeat's event, when the server says it.
    revision: int | None = None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Heartbeat:
        return cls(body["id"], parse_time(body["lastSeen"]), body.get("revision"))

    def to_wire(self) -> JsonObject:
        body: JsonObject = {"id": self.id, "lastSeen": format_time(self.last_seen)}
        if self.revision is not None:
            body["revision"] = self.revision
        return body


@dataclass(frozen=True, slots=True)
class Listing(Sequence[Entry]):
    """A list of entries with the revision it shows (`X-Registry-Revision`), for list-then-watch."""

    vms: tuple[Entry, ...]
    revision: int | None = None

    @overload
    def __getitem__(self, index: int) -> Entry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Entry]: ...
    def __getitem__(self, index: int | slice) -> Entry | Sequence[Entry]:
        return self.vms[index]

    def __len__(self) -> int:
        return len(self.vms)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.vms)

    def to_wire(self) -> JsonObject:
        return {"vms": [v.to_wire() for v in self.vms], "count": len(self.vms)}


WatchItem = Event | Snapshot
