"""The per-VM budget of `vm.health` changes: at most `burst` in any window, judged on the events'
own `at` as the log holds them.

What it bounds is a *change* of a status the log holds (passing to critical and back): that is
what a flapping service repeats. A service's *first* record (it had no status: the VM was just
registered, or an update gave it a `healthPath`) needs no slot and never waits: it can happen
once per service per registration or change of services, so the client's own writes bound it,
and a VM with 15 healthy services and one failing one must show `critical` at once rather than
behind 15 first "passing" records (issue #25).

The budget outlives the process that spent it: a checker that starts (after a restart, or on a
new leader) rebuilds it from the log, so a flapping VM gets no fresh allowance from a restart.
`rebuild` reads the window's `vm.health`, `vm.registered` and `vm.updated` events in seq order
and follows which services had a status, as the fold does, to tell first records from changes.
A record whose service's status before the window is unknown counts as a change: when in
doubt, the rebuilt budget is the stricter one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.persistence.log import EventQuery
from vm_registry.service.registry import Registry

Slot = list[int]  # [at]: the time a slot was taken, replaced by its event's `at` once committed
_PAGE = 1000


class TransitionBudget:
    def __init__(self, burst: int, window_ms: int) -> None:
        self.burst = burst
        self.window_ms = window_ms
        self._recent: dict[str, deque[Slot]] = {}

    def spend(self, vm_id: str, now: int) -> Slot | None:
        """A slot in this VM's budget, or None when it has none left just now."""
        recent = self._recent.setdefault(vm_id, deque())
        while recent and recent[0][0] <= now - self.window_ms:
            recent.popleft()
        if len(recent) >= self.burst:
            return None
        slot = [now]
        recent.append(slot)
        return slot

    def give_back(self, vm_id: str, slot: Slot) -> None:
        """Nothing was written with this slot."""
        recent = self._recent.get(vm_id)
        if recent is not None and slot in recent:
            recent.remove(slot)

    def keep_only(self, vm_ids: set[str]) -> None:
        self._recent = {vm: recent for vm, recent in self._recent.items() if vm in vm_ids}

    def clear(self) -> None:
        self._recent.clear()

    def spent(self, vm_id: str) -> list[int]:
        """The times of the slots this VM holds, oldest first (for tests and reports)."""
        return [slot[0] for slot in self._recent.get(vm_id, ())]

    async def rebuild(self, registry: Registry) -> None:
        """Start from what the log says was written in the window up to now."""
        since = registry.clock() - self.window_ms
        after = await registry.seq_at_time(since)
        statuses: dict[str, _Statuses] = {}
        counted: dict[str, deque[Slot]] = {}
        types = (ev.HEALTH, ev.REGISTERED, ev.UPDATED)
        while page := await registry.events(EventQuery(after=after, limit=_PAGE, types=types)):
            for event in page:
                known = statuses.setdefault(event.vm_id, _Statuses())
                if known.follow(event):
                    kept = counted.setdefault(event.vm_id, deque(maxlen=self.burst))
                    kept.append([event.at])
            after = page[-1].seq
        self._recent = counted


@dataclass(slots=True)
class _Statuses:
    """Whether each service of one VM had a recorded status, as far as the window tells:
    True or False when known, None when it depends on events before the window."""

    has: dict[str, bool | None] = field(default_factory=dict)
    others: bool | None = None  # for the names not in `has`

    def follow(self, event: Event) -> bool:
        """Fold one event; True if it is a `vm.health` change that counts against the budget."""
        data: dict[str, Any] = event.data or {}
        if event.type == ev.REGISTERED:  # a registration starts without health
            self.has.clear()
            self.others = False
        elif event.type == ev.UPDATED and "services" in data:
            # The fold keeps the status of a service still checked, drops every other.
            checked = {s["name"] for s in data["services"] or () if "healthPath" in s}
            self.has = {name: self.has.get(name, self.others) for name in checked}
            self.others = False
        elif event.type == ev.HEALTH:
            name = data["service"]
            before = self.has.get(name, self.others)
            self.has[name] = True
            return before is not False
        return False
