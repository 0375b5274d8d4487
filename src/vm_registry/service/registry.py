"""The registry as the edges see it: `execute` sends a command to the writer, the queries read
the projection. It holds both privately: nothing outside `service/` reaches the writer or the
state (tests/test_layers.py checks it), so the projection changes only through the writer.

Staleness is judged here: the log says which VMs the reaper marked stale, and the startup grace
(which depends on the clock) decides whether that counts yet. Time before the server started
does not count: while the registry was down, agents could not reach it, so after a restart
every VM gets a full window to check in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from vm_registry.domain.commands import Command
from vm_registry.domain.errors import Invalid, Unavailable
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State
from vm_registry.domain.model import Entry
from vm_registry.domain.outcome import Outcome
from vm_registry.persistence.log import EventLog, EventQuery
from vm_registry.service.writer import Writer

# How long a read with `minRevision` waits for this replica to fold that revision before it
# answers 503. Replicas follow the log within milliseconds; seconds mean one is cut off.
MIN_REVISION_WAIT = 5.0


# Who asked: a client (ip, User-Agent, token name and scope) or the server itself.
Actor = dict[str, Any]
Execute = Callable[[Command, Actor], Awaitable[Outcome]]
ExecuteSoon = Callable[[Command, Actor], asyncio.Future[Outcome] | None]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Registry:
    def __init__(
        self,
        store: EventLog,
        state: State,
        writer: Writer,
        *,
        stale_after: float,
        clock: Callable[[], int] = wall_clock_ms,
        min_revision_wait: float = MIN_REVISION_WAIT,
        log_problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._store = store
        self._state = state
        self._writer = writer
        # Decide, commit and fold a command; its outcome once durable. The writer's own method,
        # bound once: the registry adds nothing to a command, and a heartbeat pays no extra hop.
        self.execute: Execute = writer.submit
        # The same door for a caller answering from a callback (`Writer.submit_soon`).
        self.execute_soon: ExecuteSoon = writer.submit_soon
        self.stale_after_ms = int(stale_after * 1000)
        self.clock = clock
        self.min_revision_wait = min_revision_wait
        # Asks the backend whether its log can still be trusted (a SQLite file deleted under
        # the server); given by the app, so the service names no backend.
        self._log_problem = log_problem
        self.started_at = clock()
        # Set by the mass-expiry guard while it holds: staleness is then suspended.
        self.staleness_suspended = False

    def joined_running_registry(self) -> None:
        """This process started beside replicas that were already serving (another one held
        the leadership lease): the registry was not down, so there is no startup grace, and
        this replica judges staleness exactly as the others do."""
        self.started_at = 0

    # -- queries ---------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The seq of the last event folded into this process's projection."""
        return self._state.revision

    @property
    def vms(self) -> Mapping[str, Entry]:
        """The registered VMs by id, in registration order, as of `revision`. Read it, never
        keep it: it is the live projection's own index, and moves with every commit."""
        return self._state.entries

    @property
    def running(self) -> int:
        """How many VMs are running, marked stale or not."""
        return self._state.running

    def awake(self) -> Iterator[Entry]:
        """The running VMs not marked stale, least recently seen first (the reaper reads only
        the front of it)."""
        entries = self._state.entries
        for vm_id in self._state.by_activity:
            yield entries[vm_id]

    @property
    def log_error(self) -> str | None:
        """Why the writer's last step on the log failed, until one succeeds again."""
        return self._writer.log_error

    @property
    def queue_depth(self) -> int:
        return self._writer.queue_depth

    @property
    def log_head(self) -> int:
        """The newest head of the log this process has heard of (other replicas may have
        committed past `revision`; `lag` is the difference)."""
        return max(self._writer.log_head, self._state.revision)

    @property
    def lag(self) -> int:
        return self.log_head - self._state.revision

    async def caught_up(self, revision: int | None, what: str = "minRevision") -> None:
        """Return once the projection has folded `revision` (read-your-writes across
        replicas), or raise `Unavailable` after `min_revision_wait` seconds."""
        if revision is None or revision <= self._state.revision:
            return
        if revision > self.log_head and not await self._exists(revision):
            raise Invalid(f"{what} {revision} is beyond the head of the log ({self.log_head})")
        if await self._writer.folded.wait_for(revision, self.min_revision_wait):
            return
        raise Unavailable(
            f"this replica has folded the log up to revision {self._state.revision}, not yet "
            f"{revision} (waited {self.min_revision_wait:g} s); retry, or ask another replica"
        )

    async def _exists(self, revision: int) -> bool:
        """Whether the log holds `revision` (committed by another process, perhaps a moment
        ago): one indexed read, so a made-up revision is refused at once, not after a wait."""
        found = await self._store.read(EventQuery(after=revision - 1, limit=1))
        return bool(found)

    # -- the log, for auditors and resuming subscribers ------------------------------------

    async def first_seq(self) -> int:
        """The oldest seq the log still holds, read afresh: another process (`vm-registry
        compact`) may have moved the start of the log since this one looked."""
        return await self._store.refresh_first_seq()

    async def events(self, query: EventQuery) -> list[Event]:
        return await self._store.read(query)

    async def seq_at_time(self, at: int) -> int:
        """The last seq whose event happened at or before `at` (0 if none)."""
        return await self._store.seq_at_time(at)

    async def vm_known(self, vm_id: str) -> bool:
        """Whether the log ever held this VM, deregistered or compacted away since or not."""
        return await self._store.vm_known(vm_id)

    def log_file_problem(self) -> str | None:
        """Why the log's file can no longer be trusted, or None (see `/health`)."""
        return self._log_problem()

    def get(self, vm_id: str) -> Entry | None:
        return self._state.entries.get(vm_id)

    def quiet_since(self, entry: Entry) -> int:
        return max(entry.last_seen, self.started_at)

    def is_stale(self, entry: Entry, now: int | None = None) -> bool:
        """Stale is what the log recorded (`vm.stale`, appended by the reaper once a running VM
        has been silent for the window). Going by the log rather than the clock keeps every
        view consistent (lists, discover, the feed, time travel) and leaves the mass-expiry
        guard the last word before a fleet disappears from `discover`.

        During the startup grace nothing counts as stale, a mark from before a restart
        included: the registry was down, so agents could not reach it."""
        if not entry.stale or entry.status != "running":
            return False
        moment = self.clock() if now is None else now
        return moment >= self.started_at + self.stale_after_ms

    def entries(
        self, role: str | None = None, status: str | None = None, state: State | None = None
    ) -> list[Entry]:
        """Newest registration first. `status=running` leaves out stale VMs. For a past
        `state` (time travel) only staleness recorded in the log counts: the clock then is
        not the clock now."""
        source = self._state if state is None else state
        entries = source.entries
        found: Iterable[Entry]
        if role is not None:
            found = (entries[vm_id] for vm_id in reversed(source.by_role[role]))
        else:
            found = reversed(entries.values())
        if status is None:
            return list(found)
        if status != "running":
            return [e for e in found if e.status == status]
        if state is not None:
            return [e for e in found if e.status == "running" and not e.stale]
        now = self.clock()
        return [e for e in found if e.status == "running" and not self.is_stale(e, now)]

    def discover(self, role: str, *, healthy: bool = False) -> list[Entry]:
        """Running and not stale; with `healthy`, also no checked service critical. A service
        not checked yet does not count against its VM (docs/health.md)."""
        found = self.entries(role=role, status="running")
        if healthy:
            return [e for e in found if not e.health or "critical" not in e.health.values()]
        return found
