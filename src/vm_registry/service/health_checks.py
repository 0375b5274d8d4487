"""Active health checks: probe every checked service, record only the changes.

Every `interval` (with ±10 % jitter, so replicas and restarts do not fall into step), a round
probes each service with a `healthPath` of every VM that is running and not stale. A round's
probes are spread over the first half of the interval and at most `concurrency` run at once, so
a large fleet costs a steady trickle of requests rather than a burst. Each distinct URL
(address, port, path) is probed once a round, and its verdict judged for every service naming
it: 64 services of one VM on one target cost one request, not 64.

A round the prober could not finish (`ProbeFailure`: its process died or stopped answering, or
any other error) is counted, and `problem` says why until a round completes again: `/health`
and `/metrics` show it, since a prober that cannot work freezes every status silently.

The log records transitions, never probes. A service becomes `passing` on its first success and
`critical` after `failures` consecutive failures (a single lost probe is not an outage), and an
event is written only when that differs from the status the log holds. A flapping service could
still change status every round, so each VM may record at most `TRANSITION_BURST` changes of a
recorded status per `TRANSITION_WINDOW_ROUNDS` intervals (`health_budget.py`; a service's
first record is not a change and never waits); beyond that its changes wait, and the latest
status is written as soon as the budget allows, its detail saying that changes were held
back. The log then always converges on the truth, at a bounded rate.

Statuses are read back from the projection, not kept here: a restarted or newly elected checker
starts from what the log says, with its failure counts at zero, and rebuilds the budget from
the log before its first round.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from vm_registry.domain.commands import RecordHealth
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.model import Entry
from vm_registry.service.background import Background
from vm_registry.service.health_budget import Slot, TransitionBudget
from vm_registry.service.probe import PASSING, RESULTS, ProbeFailure, ProbeResult, Target
from vm_registry.service.registry import Registry

log = logging.getLogger("vm_registry.health")

HEALTH_ACTOR: Final = {"system": "health-checks"}
TRANSITION_BURST: Final = 4
TRANSITION_WINDOW_ROUNDS: Final = 10
JITTER: Final = 0.1


class Probes(Protocol):
    """A `Prober` on this loop (tests), or a `ProbeProcess` (the server)."""

    def start(self) -> None: ...

    async def rest(self) -> None:
        """Let go of what probing holds (the probe process) while this replica does not
        probe; the next round takes it up again."""

    def probe_round(
        self, targets: Sequence[Target], spread: float
    ) -> AsyncGenerator[tuple[Target, ProbeResult], None]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    interval: float = 30.0
    timeout: float = 2.0
    concurrency: int = 32
    failures: int = 2  # consecutive failures before a service is critical


@dataclass(slots=True)
class _Track:
    target: Target
    failures: int = 0
    held_back: bool = False  # the rate limit kept a change out of the log since the last event


def _url(target: Target) -> tuple[str, int, str]:
    return target.address, target.port, target.path


def targets(entry: Entry) -> Iterator[Target]:
    """The checked services of one VM; a name given twice is checked once, as it appears first
    (health is keyed by service name)."""
    seen: set[str] = set()
    for service in entry.services or ():
        name = service["name"]
        if "healthPath" not in service or name in seen:
            continue
        seen.add(name)
        yield Target(entry.id, name, entry.address, service["port"], service["healthPath"])


class HealthChecker:
    def __init__(
        self,
        registry: Registry,
        prober: Probes,
        policy: CheckPolicy,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self.registry = registry
        self.prober = prober
        self.policy = policy
        # With replicas on one log, only the leader probes: one view of each service's failure
        # count, and one writer of its transitions.
        self.is_leader = is_leader
        self.probes: Counter[str] = Counter({result: 0 for result in RESULTS})
        self.transitions = 0
        self.suppressed = 0
        self.round_failures = 0  # rounds that could not finish, ever
        self.failing_rounds = 0  # ... in a row, up to the latest: 0 once a round completes
        self.problem: str | None = None  # why the latest round could not finish
        self._tracks: dict[tuple[str, str], _Track] = {}
        self.budget = TransitionBudget(TRANSITION_BURST, self.window_ms)
        self._budget_stale = True  # rebuilt from the log before the first round it leads
        self._task = Background("vm-registry-health-checks")

    def start(self) -> None:
        self.prober.start()
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()
        await self.prober.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if self.is_leader():
                    await self.round()
                    self.failing_rounds = 0
                    self.problem = None
                else:  # a new leader starts from the log's statuses, so forget ours
                    self._tracks.clear()
                    self.budget.clear()
                    self._budget_stale = True
                    self.failing_rounds = 0
                    self.problem = None
                    await self.prober.rest()
            except Exception as error:
                self.round_failures += 1
                self.failing_rounds += 1
                self.problem = str(error) or type(error).__name__
                log.warning("health-check round failed: %s", self.problem, exc_info=error)
            pause = self.policy.interval * random.uniform(1 - JITTER, 1 + JITTER)
            await asyncio.sleep(max(0.0, started + pause - loop.time()))

    def due(self) -> list[Target]:
        registry = self.registry
        now = registry.clock()
        found: list[Target] = []
        for entry in registry.vms.values():
            if entry.services and entry.status == "running" and not registry.is_stale(entry, now):
                found.extend(targets(entry))
        return found

    async def round(self) -> None:
        """Probe everything due once, spread over half an interval; return when all are done."""
        due = self.due()
        live = {(t.vm_id, t.service) for t in due}
        self._tracks = {key: track for key, track in self._tracks.items() if key in live}
        if self._budget_stale:
            await self.budget.rebuild(self.registry)
            self._budget_stale = False
        else:
            self.budget.keep_only({t.vm_id for t in due})
        by_url: dict[tuple[str, int, str], list[Target]] = {}
        for target in due:
            by_url.setdefault(_url(target), []).append(target)
        writes: set[asyncio.Task[None]] = set()
        probes = [named[0] for named in by_url.values()]
        verdicts = self.prober.probe_round(probes, self.policy.interval / 2)
        cut_short: ProbeFailure | None = None
        try:
            try:
                async for probed, outcome in verdicts:
                    self.probes[outcome.result] += 1
                    for target in by_url.get(_url(probed), ()):
                        decided = self._judge(target, outcome)
                        if decided is not None:  # a transition: written while the round goes on
                            task = asyncio.create_task(self._record(*decided))
                            writes.add(task)
                            task.add_done_callback(writes.discard)
            except ProbeFailure as failure:  # the verdicts given stand: write them first
                cut_short = failure
            await asyncio.gather(*writes)
            if cut_short is not None:
                raise cut_short
        finally:
            await verdicts.aclose()  # also when cancelled: the prober forgets this round
            for task in writes:
                task.cancel()

    def _judge(
        self, target: Target, outcome: ProbeResult
    ) -> tuple[RecordHealth, _Track, Slot | None] | None:
        """The command to write, if this verdict changes the status the log holds and the VM's
        budget allows it now."""
        key = (target.vm_id, target.service)
        track = self._tracks.get(key)
        if track is None or track.target != target:  # new, or its address/port/path changed
            track = self._tracks[key] = _Track(target)
        if outcome.result == PASSING:
            track.failures = 0
            status = "passing"
        else:
            track.failures += 1
            if track.failures < self.policy.failures:
                return None
            status = "critical"
        entry = self.registry.get(target.vm_id)
        if entry is None:
            return None
        recorded = (entry.health or {}).get(target.service)
        if recorded == status:
            return None
        slot: Slot | None = None
        if recorded is not None:  # a change: first records need no slot (health_budget.py)
            slot = self.budget.spend(target.vm_id, self.registry.clock())
            if slot is None:
                track.held_back = True
                self.suppressed += 1
                return None
        detail = outcome.detail
        if track.held_back:
            detail += "; earlier changes were held back by the rate limit"
        command = RecordHealth(
            target.vm_id, target.service, status, detail, target.address, target.port, target.path
        )
        return command, track, slot

    async def _record(self, command: RecordHealth, track: _Track, slot: Slot | None) -> None:
        try:
            recorded = await self.registry.execute(command, HEALTH_ACTOR)
        except RegistryError:
            # The VM changed meanwhile, or the log is unavailable: nothing was written, so the
            # slot is given back, and the next round decides again.
            if slot is not None:
                self.budget.give_back(command.vm_id, slot)
            return
        if slot is not None:
            slot[0] = recorded.event.at
        track.held_back = False
        self.transitions += 1

    @property
    def window_ms(self) -> int:
        return int(self.policy.interval * TRANSITION_WINDOW_ROUNDS * 1000)
