"""The reaper: records `vm.stale` once per silent episode, with a mass-expiry guard.

Every `interval` it looks for running VMs that nothing has touched for `stale_after` (counting
from server start at the earliest, which gives every VM a full window after a restart) and asks
the writer to mark them stale (through `Registry.execute`, as every caller does). The command
carries the revision the reaper saw, so a heartbeat that lands first wins and the command is
dropped.

Mass expiry: if more than `share` of a running fleet of at least `min_fleet` VMs would be stale
within one stale window, the likelier culprit is the registry or its network, not the agents
(Eureka's self-preservation). The count is the VMs marked within the last window, those overdue
now, and those that will be overdue by the next tick: a fleet that went silent at one moment is
judged as one, whatever the phase of the ticks, instead of losing its first members to
staleness before the guard sees the rest. While the guard holds, staleness is suspended:
`discover` keeps the last known fleet and no `vm.stale` is written. Unlike Eureka it cannot hold
forever: it ends when heartbeats flow again, or after `max_hold` seconds, after which silent VMs
go stale normally and the guard stays off for one stale window so that this expiry does not trip
it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vm_registry.domain.commands import MarkStale
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.model import Entry
from vm_registry.service.background import BackgroundJob
from vm_registry.service.registry import Registry

log = logging.getLogger("vm_registry.reaper")

REAPER_ACTOR = {"system": "reaper"}


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    enabled: bool = True
    share: float = 0.5
    min_fleet: int = 10
    max_hold_ms: int = 900_000


class Reaper(BackgroundJob):
    def __init__(
        self,
        registry: Registry,
        interval: float,
        policy: GuardPolicy,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__("vm-registry-reaper")
        self.registry = registry
        self.interval = interval
        self.policy = policy
        # Only the leader reaps (replicas on one log): a mark is decided under the log's lock
        # against every earlier event, so even two reapers could not mark one silence twice,
        # but one reaper keeps one mass-expiry guard with one view of the fleet.
        self.is_leader = is_leader
        self._recent: deque[int] = deque()  # when recent vm.stale events were recorded
        self._held_since: int | None = None
        self._cooldown_until = 0
        self.examined = 0  # entries the last pass looked at

    @property
    def holding(self) -> bool:
        return self._held_since is not None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.is_leader():
                if self.holding:
                    self._release("leadership moved to another replica")
                self._recent.clear()
                continue
            try:
                await self.tick()
            except Exception:
                log.exception("reaper tick failed")

    def overdue(self, now: int) -> tuple[list[Entry], int, int]:
        """Running VMs past the window but not yet marked, how many more will be past it by the
        next tick, and the size of the running fleet.

        It reads the projection's activity index (running, unmarked VMs, least recently seen
        first) from the front and stops at the first VM that is neither: a pass touches the
        VMs it reports and one more, never the whole fleet (`examined` counts them)."""
        registry = self.registry
        limit = registry.stale_after_ms
        soon_limit = limit - int(self.interval * 1000)
        soon = examined = 0
        found: list[Entry] = []
        for entry in registry.awake():
            examined += 1
            quiet = now - registry.quiet_since(entry)
            if quiet > limit:
                found.append(entry)
            elif quiet > soon_limit:
                soon += 1
            else:
                break  # everyone after it was seen later still
        self.examined = examined
        # Marked in registration order, whatever order the index holds VMs seen in the same
        # millisecond in: the log of one silence is then the same however the fold got there.
        found.sort(key=_registration_order)
        return found, soon, registry.running

    async def tick(self) -> None:
        registry = self.registry
        now = registry.clock()
        window = registry.stale_after_ms
        while self._recent and self._recent[0] < now - window:
            self._recent.popleft()
        overdue, soon, fleet = self.overdue(now)
        if self._guard_trips(len(overdue), soon, fleet, now):
            return
        # Submitted all at once, so the writer takes them as one group commit (up to its batch
        # size) instead of one transaction per VM: a rack going dark is one commit, not 500.
        marks = [
            registry.execute(MarkStale(entry.id, entry.revision), REAPER_ACTOR) for entry in overdue
        ]
        for answer in await asyncio.gather(*marks, return_exceptions=True):
            if isinstance(answer, RegistryError):
                continue  # touched meanwhile, or the log is unavailable: try next tick
            if isinstance(answer, BaseException):
                raise answer
            self._recent.append(now)

    def _guard_trips(self, overdue: int, soon: int, fleet: int, now: int) -> bool:
        policy = self.policy
        expiring = overdue + soon + len(self._recent)
        tripped = (
            policy.enabled
            and now >= self._cooldown_until
            and overdue > 0
            and fleet >= policy.min_fleet
            and expiring > policy.share * fleet
        )
        if self._held_since is None:
            if tripped:
                self._held_since = now
                self.registry.staleness_suspended = True
                log.warning(
                    "mass expiry suspected: %d of %d running VMs went silent within one stale "
                    "window; staleness is suspended until heartbeats resume",
                    expiring,
                    fleet,
                )
            return tripped
        if not tripped:
            self._release("heartbeats resumed")
            return False
        if now - self._held_since >= policy.max_hold_ms:
            self._release("the guard's time limit passed")
            self._cooldown_until = now + self.registry.stale_after_ms
            return False
        return True

    def _release(self, why: str) -> None:
        self._held_since = None
        self.registry.staleness_suspended = False
        log.warning("mass-expiry guard released: %s", why)


def _registration_order(entry: Entry) -> int:
    return entry.created_seq
