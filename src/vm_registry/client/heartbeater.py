"""Keeping an entry alive in the background, for as long as a block of work runs.

    with Heartbeater(client, vm_id, interval=60):
        do_the_work()

A heartbeat must never take the host program down, so every failure is logged and the next beat
tried on schedule. When the server answers 404, the entry was lost (a wiped database) or deleted
by someone: the VM is still alive, so the Heartbeater registers it again from the last known
registration: the one given, else the client's last `register` of this id, else the entry as it
was when the Heartbeater started.

Beats are jittered downwards (never later than `interval`), so a fleet started together spreads
out instead of hitting the registry in one burst each minute.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Self

from vm_registry.client import heartbeat_aio, heartbeat_sync
from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.heartbeat_record import HeartbeatRecord
from vm_registry.client.models import Registration
from vm_registry.client.sync import RegistryClient


class Heartbeater(HeartbeatRecord):
    """Beats `id` every `interval` seconds (less a random `jitter` fraction), counting its
    beats, failures and re-registrations (`HeartbeatRecord`)."""

    def __init__(
        self,
        client: RegistryClient | AsyncRegistryClient,
        id: str,
        interval: float = 60.0,
        *,
        registration: Registration | None = None,
        jitter: float = 0.1,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        super().__init__(id, registration or client.last_registration(id))
        self.client = client
        self.interval = interval
        self.jitter = jitter
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    def _next_delay(self) -> float:
        return self.interval * random.uniform(1 - self.jitter, 1)

    # The blocking flavour: a daemon thread, so it never holds up interpreter exit.

    def __enter__(self) -> Self:
        if not isinstance(self.client, RegistryClient):
            raise TypeError("use `async with` with an AsyncRegistryClient")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run_sync, args=(self.client,), name=f"heartbeat-{self.id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client._timeout + 1)
            self._thread = None

    def _run_sync(self, client: RegistryClient) -> None:
        heartbeat_sync.fetch_registration(self, client)
        while not self._stop.wait(self._next_delay()):
            self.beat_sync(client)

    def beat_sync(self, client: RegistryClient) -> None:
        heartbeat_sync.beat(self, client)

    # The asyncio flavour: a task on the running loop.

    async def __aenter__(self) -> Self:
        if not isinstance(self.client, AsyncRegistryClient):
            raise TypeError("use `with` with a RegistryClient")
        self._task = asyncio.create_task(self._run_async(self.client), name=f"heartbeat-{self.id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run_async(self, client: AsyncRegistryClient) -> None:
        await heartbeat_aio.fetch_registration(self, client)
        while True:
            await asyncio.sleep(self._next_delay())
            await self.beat_async(client)

    async def beat_async(self, client: AsyncRegistryClient) -> None:
        await heartbeat_aio.beat(self, client)
