"""The real service (the suite's store, replay, single writer, registry) run in-process on a temp
database, with a clock the test controls. It is what `serve` builds, minus HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import backend
from vm_registry.domain import commands as cmd
from vm_registry.persistence.sqlite.compaction import SqliteCompaction
from vm_registry.persistence.sqlite.log import SqliteEventLog
from vm_registry.persistence.sqlite.snapshots import SqliteSnapshots
from vm_registry.persistence.store import Store, open_store
from vm_registry.service.bootstrap import replay
from vm_registry.service.reaper import GuardPolicy, Reaper
from vm_registry.service.registry import Registry
from vm_registry.service.writer import Outcome, Writer

ACTOR = {"ip": "127.0.0.1", "userAgent": "tests"}


class FakeClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Service:
    def __init__(
        self,
        db: Path,
        clock: FakeClock,
        stale_after: float = 10.0,
        log_class: type[SqliteEventLog] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.stale_after = stale_after
        self.log_class = log_class
        self.published: list[Any] = []

    async def start(self) -> Service:
        if self.log_class is None:
            # The suite's backend (tests/support/backend.py): a SQLite file, or a PostgreSQL
            # database standing for it.
            self.target = backend.target(self.db)
            self.store = await open_store(self.target)
            self.log = self.store.log
        else:
            # A SQLite log with a fault of the test's own wrapped around it.
            self.target = str(self.db)
            self.log = self.log_class(self.db)
            self.store = Store(
                self.log, SqliteSnapshots(self.log), SqliteCompaction(self.log), str(self.db)
            )
            await self.log.open()
        self.state = state = await replay(self.log)
        self.writer = Writer(self.log, state, self.clock, [self.published.extend])
        self.registry = Registry(
            self.log, state, self.writer, stale_after=self.stale_after, clock=self.clock
        )
        self.writer.start()
        return self

    async def reap(self) -> None:
        """One look by the reaper (its mass-expiry guard off: the model has no guard)."""
        await Reaper(self.registry, 1.0, GuardPolicy(enabled=False)).tick()

    async def stop(self) -> None:
        await self.writer.stop()
        await self.log.close()

    async def execute(self, command: cmd.Command) -> Outcome:
        return await self.registry.execute(command, ACTOR)
