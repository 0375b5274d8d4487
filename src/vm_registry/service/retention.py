"""Retention: the leader keeps the log to a size, archiving what it drops first.

Each run (every `interval` seconds, on the leader only) works out the cut the policy asks for
(events older than `age_ms`, and/or all but the newest `events`), and reaches it in steps of at
most `step` events: the state at the step's end and its archive, folded and written from one
read of the events (service/cutting.py: the archive synced and renamed into place first), then
the cut in one short transaction, the deletion, and the freed pages handed back a few at a
time. Every part of a step goes a small piece at a time (`cut_live`), and between steps it
pauses, so the writer's batches get the loop and the log's lock in between: a live write waits
for one piece at most, never for a step or a run. The newest event always stays.

Archives are named by their seq range (persistence/archive.py). A crash can leave two kinds
of leftover in the directory, and each run removes both before it writes: a `.partial` file
(the crash came while writing it), and a whole archive that starts at or after the log's
first event (the crash came before its cut committed: the log still holds every event in it,
and the next step archives them again, maybe up to a later cut). Nothing else there is touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vm_registry.domain.fold import State
from vm_registry.persistence.archive import PARTIAL, archive_name, archive_range
from vm_registry.persistence.log import EventQuery
from vm_registry.persistence.store import Store
from vm_registry.service.background import BackgroundJob
from vm_registry.service.cutting import Pacer, cut_live
from vm_registry.service.time_machine import TimeMachine

log = logging.getLogger("vm_registry.retention")

# An older SQLite log is converted to incremental auto-vacuum at startup up to this size.
CONVERT_AT_START_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    age_ms: int | None  # drop events older than this
    events: int | None  # keep at most this many of the newest events
    interval: float
    step: int
    pause: float
    archive_dir: Path | None


@dataclass(slots=True)
class RetentionFigures:
    """What /health and /metrics show of retention."""

    oldest_seq: int = 1
    oldest_at: int | None = None  # epoch ms of the oldest event held
    dropped: int = 0  # events this process's retention dropped
    steps: int = 0
    last_step_seconds: float = 0.0
    archive_files: int = 0
    archive_bytes: int = 0
    problem: str | None = None  # why the last run failed
    reclaim_problem: str | None = None  # why the file cannot shrink


class Retention(BackgroundJob):
    def __init__(
        self,
        store: Store,
        history: TimeMachine,
        policy: RetentionPolicy,
        clock: Callable[[], int],
        is_leader: Callable[[], bool],
    ) -> None:
        super().__init__("vm-registry-retention")
        self.store = store
        self.history = history
        self.policy = policy
        self.clock = clock
        self.is_leader = is_leader
        self.figures = RetentionFigures()
        self._base: State | None = None  # the state at the last step's cut

    @property
    def archived(self) -> bool:
        return self.policy.archive_dir is not None

    async def prepare(self) -> None:
        """Before the server serves: the archive directory exists, space can be reclaimed."""
        directory = self.policy.archive_dir
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._count_archives()
        else:
            log.warning("retention is on without --archive-dir: dropped history is not archived")
        if self.is_leader():  # one process converts (serve --workers: the lease holder)
            problem = await self.store.compaction.enable_reclaim(CONVERT_AT_START_BYTES)
            if problem is not None:
                log.warning("%s", problem)
            self.figures.reclaim_problem = problem
        await self._observe_window()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.policy.interval)
            if not self.is_leader():
                await self._observe_window()  # the leader cuts; the window still moves here
                continue
            try:
                await self.run_once()
                self.figures.problem = None
            except Exception as error:
                self.figures.problem = str(error)
                log.exception("retention run failed")

    async def run_once(self) -> int:
        """Reach the cut the policy asks for now, in steps; the events dropped."""
        log_ = self.store.log
        first = await log_.refresh_first_seq()
        # Off the loop: a month of archives is thousands of files to list and measure.
        await asyncio.to_thread(self._remove_leftovers, first)
        target = await self._target(first)
        dropped = 0
        while self.is_leader() and first <= target:
            dropped += await self._step(min(target, first - 1 + self.policy.step))
            await self._observe_window()
            await asyncio.sleep(self.policy.pause)
            first = await log_.refresh_first_seq()
        await self._observe_window()
        return dropped

    async def _target(self, first: int) -> int:
        """The newest seq the policy drops now (below `first`: nothing to drop)."""
        policy, log_ = self.policy, self.store.log
        head = log_.head
        target = first - 1
        if policy.events is not None:
            target = max(target, head - policy.events)
        if policy.age_ms is not None:
            target = max(target, await log_.seq_at_time(self.clock() - policy.age_ms - 1))
        return min(target, head - 1)

    async def _step(self, cut: int) -> int:
        started = time.perf_counter()
        first = self.store.log.first_seq
        directory = self.policy.archive_dir
        path = directory / archive_name(first, cut) if directory is not None else None
        result, self._base = await cut_live(self.store, await self._state_before(first), cut, path)
        await self.store.compaction.reclaim(Pacer().rest)
        figures = self.figures
        figures.dropped += result.dropped
        figures.steps += 1
        figures.last_step_seconds = time.perf_counter() - started
        if path is not None:
            figures.archive_files += 1
            figures.archive_bytes += result.archive_bytes
        log.info(
            "retention dropped seqs %d..%d (%d events)%s",
            first,
            cut,
            result.dropped,
            f", archived to {path}" if path is not None else ", not archived",
        )
        return result.dropped

    async def _state_before(self, first: int) -> State:
        """The state just before `first`, the log's first event, for the step to fold forward:
        the last step's end (no snapshot to load and decode again), or else from the
        snapshot at the compaction point (or the empty state, on a log never compacted)."""
        base, self._base = self._base, None
        if base is not None and base.revision == first - 1:
            return base
        return (await self.history.state_at(first - 1)).copy()

    async def _observe_window(self) -> None:
        log_ = self.store.log
        first = await log_.refresh_first_seq()
        oldest = await log_.read(EventQuery(after=first - 1, limit=1))
        self.figures.oldest_seq = first
        self.figures.oldest_at = oldest[0].at if oldest else None

    def _remove_leftovers(self, first: int) -> None:
        directory = self.policy.archive_dir
        if directory is None:
            return
        for path in directory.iterdir():
            seqs = archive_range(path)
            if path.name.endswith(PARTIAL) and archive_range(path.with_suffix("")) is not None:
                path.unlink(missing_ok=True)
            elif seqs is not None and seqs[0] >= first:
                log.warning("removing %s: its cut never committed, the log holds it", path)
                path.unlink(missing_ok=True)
        self._count_archives()

    def _count_archives(self) -> None:
        directory = self.policy.archive_dir
        assert directory is not None
        found = [p for p in directory.iterdir() if archive_range(p) is not None]
        self.figures.archive_files = len(found)
        self.figures.archive_bytes = sum(p.stat().st_size for p in found)
