"""Following the log: every replica folds every event, whoever committed it, in seq order.

The log says when its head may have moved (`heads()`: PostgreSQL LISTEN plus a periodic poll,
so a lost notification or a dropped connection never leaves a gap; SQLite: a cheap poll). The
follower only passes the head on to the writer: the writer task is the one place that folds,
so events from other replicas and this replica's own commits reach the projection, the feed and
read-your-writes waiters in one order, the log's.
"""

from __future__ import annotations

import asyncio
import logging

from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.log import EventLog
from vm_registry.service.background import Background
from vm_registry.service.writer import Writer

log = logging.getLogger("vm_registry.following")

RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)  # backoff while the log cannot be followed


class Follower:
    def __init__(self, events: EventLog, writer: Writer) -> None:
        self.events = events
        self.writer = writer
        self._task = Background("vm-registry-follower")

    def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async for head in self.events.heads():
                    failures = 0
                    self.writer.follow(head)
            except StoreError as error:
                # `heads()` retries by itself; this is only a backstop for one that gives up.
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("following the log failed (%s); retrying in %.2f s", error, delay)
                await asyncio.sleep(delay)
            except Exception:
                log.exception("following the log failed")
                await asyncio.sleep(RETRY_SECONDS[-1])
