"""The registry entry, as the fold keeps it.

Entries are immutable values: the fold replaces an entry instead of changing it (nothing assigns
to an entry's fields after it is built), so a copy of the projection (for snapshots and time
travel), the feed and the renderer's cache can share entries safely. `__slots__`
keeps a fleet of 100,000 entries small in memory.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

# Defined once, here: the client (and through it the MCP tools) takes these very types, and the
# tuples are read off them, so a new role is one edit.
Role = Literal["infra", "lieutenant", "worker", "golden", "custom"]
Status = Literal["running", "paused", "stopped"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
STATUSES: Final[tuple[str, ...]] = get_args(Status)
HEALTH_STATUSES: Final = ("passing", "critical")

JsonObject = dict[str, Any]


class Entry:
    __slots__ = (
        "address",
        "created_seq",
        "health",
        "id",
        "last_seen",
        "metadata",
        "name",
        "owner",
        "registered_at",
        "registered_by",
        "revision",
        "role",
        "services",
        "stale",
        "status",
    )

    def __init__(
        self,
        id: str,
        name: str,
        role: str,
        status: str,
        address: str,
        services: list[JsonObject] | None,
        metadata: JsonObject | None,
        registered_by: str,
        registered_at: int,
        last_seen: int,
        revision: int,
        created_seq: int,
        stale: bool = False,
        owner: str | None = None,
        health: dict[str, str] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.role = role
        self.status = status
        self.address = address
        self.services = services
        self.metadata = metadata
        self.registered_by = registered_by
        self.registered_at = registered_at
        self.last_seen = last_seen
        self.revision = revision
        # Seq of the registration that created this incarnation: a total order for "newest
        # first" even when two registrations share a millisecond.
        self.created_seq = created_seq
        self.stale = stale
        # Name of the scoped `agent` token that registered this VM, if any: only that token
        # may change it (admins may change anything).
        self.owner = owner
        # Recorded health-check status per checked service ("passing" or "critical"), from
        # `vm.health` events; None until a service has a recorded status.
        self.health = health

    def replace(self, **changes: Any) -> Entry:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Entry(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        return f"Entry(id={self.id!r}, status={self.status!r}, revision={self.revision})"

    __hash__ = None  # type: ignore[assignment]
