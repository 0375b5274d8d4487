"""Checkpoints beside the writer, not inside its commits.

A checkpoint copies what the WAL holds into the database file and syncs both. SQLite's own
(`wal_autocheckpoint`, 1,000 pages by default) runs inside the commit that takes the WAL past
the limit, on the writer's connection: that batch's answers wait for it, and so does every
batch queued behind. Under P2's heartbeats a commit writes a page of the `(vm, seq)` index for
each VM in its batch, so that was a checkpoint every few dozen commits, several a second.

So `Checkpointer` checkpoints every `CHECKPOINT_SECONDS` after a commit, from the reader's
connection, in two steps. The first, PASSIVE, copies the bulk and never blocks the writer. But
the WAL starts over from its beginning only once a checkpoint has copied all of it, and a writer
that commits during every checkpoint would keep that from happening: so the second step copies
what was committed during the first, with the writer held (the log's `tx_lock`) for that
moment, and the writer's next commit starts the WAL over. SQLite's own checkpoint stays as a
backstop at `BACKSTOP_PAGES`, should these fall behind (a failing disk, a reader holding the
WAL). Measured: docs/benchmarks.md, the row "SQLite checkpoints beside the writer".

Durability does not change: a commit is in the WAL when it returns, as before, and what a
checkpoint copies was already committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, Final, Protocol

from vm_registry.persistence.errors import StoreError

log = logging.getLogger("vm_registry.persistence")


class Checkpointed(Protocol):
    """What checkpoints need of the SQLite log (`sqlite/log.py`, which starts them)."""

    path: Path
    commits: int  # the writer's commits since the log opened
    tx_lock: asyncio.Lock  # held by the writer for each of its transactions

    async def fetch(self, sql: str) -> list[Any]: ...  # on the reading connection


CHECKPOINT_SECONDS: Final = 0.2
# 64 MiB of 4 KiB pages, about 1.5 s of P2's heartbeats.
BACKSTOP_PAGES: Final = 16_384
# The WAL file is cut back to this size whenever it starts over (after a checkpoint). Without
# a limit it stays at the largest it ever grew, and a checkpoint held off once (a long read, a
# large transaction, the backstop) leaves it larger for good: the file's size with its WAL
# crept up window after window under retention (P16).
WAL_LIMIT_BYTES: Final = 4 * 1024 * 1024


async def checkpoint(event_log: Checkpointed) -> None:
    """Copy what the WAL holds into the database, from the reader's connection: off the log's
    lock, while the writer goes on (PASSIVE never blocks it)."""
    await event_log.fetch("PRAGMA wal_checkpoint(PASSIVE)")


class Checkpointer:
    """Checkpoints `event_log` every `CHECKPOINT_SECONDS` while it commits (module docstring)."""

    def __init__(self, event_log: Checkpointed) -> None:
        self.event_log = event_log
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vm-registry-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        seen = self.event_log.commits
        failing: str | None = None
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            if self.event_log.commits == seen:
                continue  # nothing new in the WAL since the last one
            seen = self.event_log.commits
            try:
                await checkpoint(self.event_log)  # the bulk, while the writer goes on
                # What it committed meanwhile, with the writer held for that moment: the WAL
                # is then copied whole, so the writer's next commit starts it over.
                async with self.event_log.tx_lock:
                    await checkpoint(self.event_log)
            except StoreError as error:
                # Said once per cause, not every fifth of a second: the writer's own
                # commits report a failing log to its callers and to /health.
                if error.reason != failing:
                    log.warning("checkpoint of %s failed: %s", self.event_log.path, error)
                failing = error.reason
            else:
                failing = None
