"""The one task a background service (the follower, reaper, retention, leadership campaign,
health checks) runs from its `start` to its `stop`: at `stop` it is cancelled and awaited, so
nothing of it outlives the service."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(work, name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class BackgroundJob:
    """A service whose whole work is one coroutine, `_run`, kept alive from `start` to `stop`
    (the reaper, retention)."""

    def __init__(self, name: str) -> None:
        self._task = Background(name)

    def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        raise NotImplementedError
