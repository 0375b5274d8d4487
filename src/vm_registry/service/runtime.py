"""The running registry: one object that owns every moving part, built from settings and a store.

`Runtime` owns the store, the projection (the state), the single writer, the change feed,
blocking queries, snapshots, time travel, leadership, the follower, the reaper, the health
checker and self-registration. It starts and stops them in one order, and hands the edges (HTTP,
metrics) only what they need:

- commands: `execute(command, actor)`, the writer's door (`Registry.execute`), and
  `execute_soon`, the same without a coroutine for a caller answering from a callback;
- queries: `registry` (the projection, staleness, read-your-writes, the log for auditors),
  `history` (the state as of any seq), `blocking_queries`;
- subscriptions: `feed`, the change feed's broker;
- health: `health()`, what `/health` reports.

The writer and the state stay private to `service/`: tests/test_layers.py fails when a module
outside it reaches for them.

Start, in order (each step needs the ones before it):

1. open the store, and fold the log into the state (newest valid snapshot plus the rest);
2. the time machine and the feed (which starts at the state's revision);
3. leadership: one campaign right away, so a lone process is leader from its first moment;
4. the writer, publishing each committed batch to its subscribers in this order: the feed
   (SSE streams hear first), blocking queries (they read the projection, already moved), and
   snapshots (which only count); read-your-writes waiters then learn the revision, and only
   then are the callers answered;
5. the writer's task, then the follower (other processes' commits reach the writer), the
   reaper, retention and the health checker (leader-only work, each asks `is_leader` as it
   goes; retention's preparation, which may rewrite an old SQLite file once, runs before the
   writer starts), and
   self-registration (a command like any other: the writer must be running).

Stop is the reverse: what writes on its own initiative stops first (checker, retention, reaper,
self-registration marks itself stopped), then the follower, the writer (which drains what it
has), a final snapshot, leadership, and the store last.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from vm_registry.feed.broker import Broker
from vm_registry.persistence.store import Store, open_store
from vm_registry.service.blocking_queries import BlockingQueries
from vm_registry.service.following import Follower
from vm_registry.service.health_checks import CheckPolicy, HealthChecker
from vm_registry.service.leadership import Leadership
from vm_registry.service.probe_process import ProbeProcess
from vm_registry.service.publishing import WriterObserver
from vm_registry.service.reaper import GuardPolicy, Reaper
from vm_registry.service.registry import Execute, ExecuteSoon, Registry, wall_clock_ms
from vm_registry.service.retention import Retention, RetentionFigures, RetentionPolicy
from vm_registry.service.self_registration import Identity, SelfRegistration
from vm_registry.service.snapshots import Snapshotter, load_state
from vm_registry.service.time_machine import TimeMachine
from vm_registry.service.writer import Writer
from vm_registry.settings import Settings, default_address

log = logging.getLogger("vm_registry")

StoreOpener = Callable[[], Awaitable[Store]]


@dataclass(frozen=True, slots=True)
class Health:
    """What `/health` reports: the figures, and what degrades the registry."""

    revision: int
    vms: int
    subscribers: int
    staleness_suspended: bool
    head: int
    lag: int
    leader: bool
    held_queries: int
    log_file_problem: str | None  # the log's file can no longer be trusted: not healthy
    log_unreachable: str | None  # the last step on the log failed (the writer's or a campaign)
    checks_problem: str | None  # why the health checker's latest round could not finish
    checks_failing_rounds: int  # ... and how many in a row could not
    retention: RetentionFigures | None  # the retained window, when retention is on
    retention_archived: bool  # whether what retention drops is archived


class Runtime:
    """Built before the server's loop runs; `start()` (or `async with`) brings it up on it.

    The attributes the edges use (`registry`, `history`, `blocking_queries`, `feed`,
    `execute`) exist from `start()` on."""

    registry: Registry
    history: TimeMachine
    blocking_queries: BlockingQueries
    feed: Broker
    leadership: Leadership
    checker: HealthChecker | None
    retention: Retention | None
    store: Store
    execute: Execute
    execute_soon: ExecuteSoon

    def __init__(
        self,
        settings: Settings,
        store: StoreOpener | None = None,
        *,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.settings = settings
        self._open_store = store or self._open_from_settings
        self._clock = clock
        self._observer: WriterObserver | None = None
        self._started = False

    async def _open_from_settings(self) -> Store:
        s = self.settings
        return await open_store(s.db, synchronous=s.synchronous, pool_size=s.db_pool_size)

    def watch_writer(self, observer: WriterObserver) -> None:
        """Let `observer` watch the writer (the metrics); before `start()`."""
        if self._observer is not None:
            raise ValueError("the writer already has an observer")  # one user: the metrics
        self._observer = observer

    # -- start and stop, in the order the module docstring gives ---------------------------

    async def start(self) -> None:
        self.store = store = await self._open_store()
        try:
            await self._build(store)
        except BaseException:
            await store.close()
            raise
        self._writer.start()
        # Other processes on the same log (replicas, `serve --workers`): fold what they commit.
        self._follower = Follower(store.log, self._writer)
        self._follower.start()
        self._reaper.start()
        if self.retention is not None:
            self.retention.start()
        if self.checker is not None:
            self.checker.start()
        self._me = self._self_registration()
        if self._me is not None:
            await self._me.start()
        self._started = True
        log.info(
            "replayed %d events; %d VMs registered", self.registry.revision, len(self.registry.vms)
        )

    async def _build(self, store: Store) -> None:
        settings = self.settings
        state = await load_state(store)
        # The fleet just replayed lives as long as the process: out of the cyclic collector's
        # sight, a full collection no longer walks it (at 100,000 VMs each one stalled the loop
        # for tens of milliseconds, the requests' p99 included).
        gc.freeze()
        self.history = TimeMachine(store, state)
        self.feed = Broker(
            store.log,
            self.history.state_at,
            head=state.revision,  # the writer publishes every event after it, in order
            tail_capacity=settings.feed_tail,
            tail_bytes=settings.feed_tail_bytes,
            max_subscribers=settings.max_subscribers,
        )
        # Half a reaper interval: a dead leader's work resumes within one reaper interval.
        self.leadership = Leadership(store.log.leadership(), settings.effective_reap_interval / 2)
        await self.leadership.start()
        self._snapshotter = Snapshotter(
            store, state, settings.snapshot_every, state.revision, self._is_leader
        )
        self.blocking_queries = BlockingQueries(state, settings.max_held_queries)
        subscribers = [self.feed.publish, self.blocking_queries.observe, self._snapshotter.observe]
        self._writer = Writer(store.log, state, self._clock, subscribers, observer=self._observer)
        self.registry = Registry(
            store.log,
            state,
            self._writer,
            stale_after=settings.stale_after,
            clock=self._clock,
            log_problem=store.file_problem,
            min_revision_wait=settings.min_revision_wait,
        )
        self.execute = self.registry.execute
        self.execute_soon = self.registry.execute_soon
        if not self.leadership.is_leader:  # its first campaign lost: another replica serves
            self.registry.joined_running_registry()
        self._reaper = Reaper(
            self.registry,
            settings.effective_reap_interval,
            _guard_policy(settings),
            self._is_leader,
        )
        self.checker = self._health_checker()
        self.retention = self._retention(store)
        if self.retention is not None:
            # Before the writer runs: converting an old SQLite file to incremental
            # auto-vacuum holds the log's lock while it rewrites the file.
            await self.retention.prepare()

    def begin_shutdown(self) -> None:
        """The server was asked to stop: answer held blocking queries now, rather than have
        them cut at the grace timeout."""
        if self._started:
            self.blocking_queries.release_all()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            if self.checker is not None:
                await self.checker.stop()
            if self.retention is not None:
                await self.retention.stop()
            await self._reaper.stop()
            if self._me is not None:
                await self._me.stop()
            await self._follower.stop()
            await self._writer.stop()
            await self._snapshotter.final()
            await self.leadership.stop()
        finally:
            await self.store.close()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what the edges read ---------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Commands waiting for the writer."""
        return self.registry.queue_depth

    def health(self) -> Health:
        registry, leadership, checker = self.registry, self.leadership, self.checker
        return Health(
            revision=registry.revision,
            vms=len(registry.vms),
            subscribers=self.feed.subscribers,
            staleness_suspended=registry.staleness_suspended,
            head=registry.log_head,
            lag=registry.lag,
            leader=leadership.is_leader,
            held_queries=self.blocking_queries.held,
            log_file_problem=registry.log_file_problem(),
            log_unreachable=registry.log_error or leadership.log_error,
            checks_problem=checker.problem if checker is not None else None,
            checks_failing_rounds=checker.failing_rounds if checker is not None else 0,
            retention=self.retention.figures if self.retention is not None else None,
            retention_archived=self.retention is not None and self.retention.archived,
        )

    # -- the parts settings decide ---------------------------------------------------------

    def _is_leader(self) -> bool:
        return self.leadership.is_leader

    def _health_checker(self) -> HealthChecker | None:
        settings = self.settings
        if not settings.health_checks:
            return None
        # Probes run in a child process: never on the API's loop or CPU (service/probe_process.py).
        prober = ProbeProcess(
            settings.health_check_allow, settings.check_timeout, settings.check_concurrency
        )
        policy = CheckPolicy(
            interval=settings.check_interval,
            timeout=settings.check_timeout,
            concurrency=settings.check_concurrency,
            failures=settings.check_failures,
        )
        return HealthChecker(self.registry, prober, policy, self._is_leader)

    def _retention(self, store: Store) -> Retention | None:
        settings = self.settings
        if not settings.retention_on:
            return None
        policy = RetentionPolicy(
            age_ms=int(settings.retain * 1000) if settings.retain is not None else None,
            events=settings.retain_events,
            interval=settings.retain_interval,
            step=settings.retain_step,
            pause=settings.retain_pause,
            archive_dir=settings.archive_dir,
        )
        return Retention(store, self.history, policy, self._clock, self._is_leader)

    def _self_registration(self) -> SelfRegistration | None:
        settings = self.settings
        if not settings.self_id:
            return None
        identity = Identity(
            vm_id=settings.self_id,
            name=settings.self_name,
            address=settings.self_address or default_address(settings.self_id),
            port=settings.port,
        )
        # Heartbeat well inside the stale window, and at least as often as agents are told to.
        return SelfRegistration(
            self.registry, identity, interval=min(settings.stale_after / 3, 60.0)
        )


def _guard_policy(settings: Settings) -> GuardPolicy:
    return GuardPolicy(
        enabled=settings.guard_enabled,
        share=settings.guard_share,
        min_fleet=settings.guard_min_fleet,
        max_hold_ms=int(settings.effective_guard_hold * 1000),
    )
