"""`import`: a fleet moved from agent-services' registry file into an empty log, in one step.

Each VM becomes the events it would have had here: a `vm.registered` at its `registeredAt`,
with its fields, then a `vm.heartbeat` at its `lastSeen` when that is later. Every event's
actor is `IMPORT_ACTOR`, so the log says where these came from. The fold, unchanged, then gives
each entry exactly the `registeredAt` and `lastSeen` the file recorded; nothing about entries
had to learn about imports.

The log's times never go back (time travel and `seq_at_time` search them), so the events are
put in time order across the whole fleet, not VM by VM: a registration before a heartbeat at
the same millisecond, and the file's order among equals. A VM's own events stay in order, since
its `lastSeen` is never before its `registeredAt` (`wire/agent_services.py` refuses the entry
otherwise).

The log must be empty: an import never merges into a history. Everything is appended in one
transaction, so an import that fails leaves the log as empty as it found it, and the log is
verified afterwards like any other (`verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from vm_registry.audit.migrate import is_empty
from vm_registry.audit.verify import Report, verify
from vm_registry.domain import events as ev
from vm_registry.domain.errors import Invalid
from vm_registry.domain.events import Event
from vm_registry.persistence.store import Store
from vm_registry.wire.agent_services import Taken

IMPORT_ACTOR: Final[dict[str, Any]] = {"system": "import", "from": "agent-services"}


@dataclass(frozen=True, slots=True)
class Imported:
    vms: int
    heartbeats: int  # VMs whose lastSeen is later than their registeredAt
    report: Report


def timeline(taken: list[Taken]) -> list[Event]:
    """The events of an import, numbered from seq 1, in time order."""
    moments: list[tuple[int, int, int, str, str, dict[str, Any]]] = []
    for order, vm in enumerate(taken):
        moments.append((vm.registered_at, 0, order, ev.REGISTERED, vm.vm_id, vm.data))
        if vm.last_seen > vm.registered_at:
            moments.append((vm.last_seen, 1, order, ev.HEARTBEAT, vm.vm_id, {}))
    moments.sort(key=lambda moment: moment[:3])
    return [
        Event(seq, kind, vm_id, at, IMPORT_ACTOR, data)
        for seq, (at, _, _, kind, vm_id, data) in enumerate(moments, start=1)
    ]


async def refuse_unless_empty(store: Store) -> None:
    if not await is_empty(store):
        raise Invalid(
            f"{store.name} already holds a log (head {store.log.head}): import writes only "
            "into an empty one, never merging into a history"
        )


async def import_fleet(store: Store, taken: list[Taken]) -> Imported:
    await refuse_unless_empty(store)
    events = timeline(taken)
    if events:
        async with store.log.locked() as tx:
            if tx.head != 0:  # someone wrote since the check: still never merge
                raise Invalid(f"{store.name} was written to while importing; nothing imported")
            await tx.append(events)
    report = await verify(store)
    return Imported(len(taken), len(events) - len(taken), report)
