"""Leadership on PostgreSQL: a session advisory lock, held on a connection of its own.

PostgreSQL releases the lock when that connection ends, however it ends (the process killed,
the network gone, the server restarted), so a dead leader never blocks the others for longer
than it takes the server to notice. `held` turns False as soon as the connection is known to
be closed; `try_acquire` on a held lease also checks the connection with a round trip, so a
campaign finds out about a silently dead one within its interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from vm_registry.persistence.postgres.errors import DRIVER_ERRORS, translate

# One lock per database: the registry's leader. Any constant; "vm_reg" in ASCII, then 2.
LEADER_KEY: Final = 0x766D5F7265670002
CHECK_TIMEOUT: Final = 2.0


class AdvisoryLease:
    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], name: str) -> None:
        self._connect = connect
        self._name = name
        self._conn: asyncpg.Connection | None = None
        self._held = False

    @property
    def where(self) -> str:
        return f"the advisory lock on {self._name}"

    @property
    def held(self) -> bool:
        return self._held and self._conn is not None and not self._conn.is_closed()

    async def try_acquire(self) -> bool:
        conn = self._conn
        try:
            if conn is None or conn.is_closed():
                await self._drop()
                conn = self._conn = await self._connect()
            if self._held:
                await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)
                return True
            self._held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY))
        except DRIVER_ERRORS as error:
            await self._drop()
            raise translate(error, f"taking the leader lock on {self._name}") from error
        return self._held

    async def release(self) -> None:
        conn, held = self._conn, self._held
        self._held = False
        if conn is not None and held and not conn.is_closed():
            with contextlib.suppress(*DRIVER_ERRORS):
                await conn.fetchval("SELECT pg_advisory_unlock($1)", LEADER_KEY)
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held = False
        if conn is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await asyncio.wait_for(conn.close(), CHECK_TIMEOUT)
            if not conn.is_closed():
                conn.terminate()
