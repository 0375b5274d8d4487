"""Following the PostgreSQL log: LISTEN for fast wake-ups, a poll of the head for certainty.

A notification only says "look now": every wake-up (notified, timed out, reconnected) reads the
head row, so a notification lost with a dropped connection costs at most one poll interval and
never leaves a gap. While the listening connection is down, the head is polled more often and
the connection is re-made with exponential backoff; while PostgreSQL itself is unreachable, the
poll backs off the same way, and `heads()` simply yields nothing until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, Protocol

import asyncpg

from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.postgres.errors import DRIVER_ERRORS

# The poll while notifications arrive (a safety net only), and while they cannot.
POLL_LISTENING: Final = 0.5
POLL_DEAF: Final = 0.1
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 5.0

log = logging.getLogger("vm_registry.persistence")


class Backoff:
    def __init__(self) -> None:
        self.delay = BACKOFF_FIRST

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX)
        return delay

    def reset(self) -> None:
        self.delay = BACKOFF_FIRST


class Listener:
    """LISTEN on a connection of its own, re-made with backoff whenever it is lost."""

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], channel: str, name: str
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._name = name
        self._conn: asyncpg.Connection | None = None
        self._woken = asyncio.Event()
        self._backoff = Backoff()
        self._retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _notified(self, *_: object) -> None:
        self._woken.set()

    async def _ensure(self) -> None:
        if self.listening:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            return
        await self.close()
        try:
            conn = await self._connect()
        except DRIVER_ERRORS as error:
            self._deaf(loop, error)
            return
        try:
            await conn.add_listener(self._channel, self._notified)
        except BaseException as error:
            # A stop that cancels us here, or a refused LISTEN, would otherwise leave the new
            # connection to the garbage collector (asyncpg then warns from __del__).
            conn.terminate()
            if not isinstance(error, DRIVER_ERRORS):
                raise
            self._deaf(loop, error)
            return
        conn.add_termination_listener(self._notified)
        self._conn = conn
        self._backoff.reset()
        self._woken.set()  # notifications may have been missed while deaf: look at once

    def _deaf(self, loop: asyncio.AbstractEventLoop, error: BaseException) -> None:
        delay = self._backoff.next()
        self._retry_at = loop.time() + delay
        log.warning("%s: cannot LISTEN (%s); retrying in %.1f s", self._name, error, delay)

    async def wait(self) -> None:
        """Until notified, or for one poll interval."""
        await self._ensure()
        timeout = POLL_LISTENING if self.listening else POLL_DEAF
        # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives just
        # as the wake-up completes, and the follower then never stops (a shutdown that hung).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._woken.wait()
        self._woken.clear()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with contextlib.suppress(*DRIVER_ERRORS):
                await asyncio.wait_for(conn.close(), 2)
        finally:  # also when a second cancellation cuts the polite close short
            if not conn.is_closed():
                conn.terminate()


class HeadSource(Protocol):
    name: str

    async def read_head(self) -> tuple[int, bytes]: ...


async def follow(source: HeadSource, listener: Listener) -> AsyncIterator[int]:
    seen = -1
    backoff = Backoff()
    try:
        while True:
            try:
                head, _ = await source.read_head()
            except StoreError as error:
                delay = backoff.next()
                log.warning("following %s: %s; retrying in %.1f s", source.name, error, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if head != seen:
                seen = head
                yield head
            await listener.wait()
    finally:
        await listener.close()
