"""asyncpg's exceptions (and a lost connection's OS errors), translated at the edge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from vm_registry.persistence.errors import StoreCorrupt, StoreError, StoreUnavailable

# Raised by asyncpg when a server is unreachable, restarts, or drops a connection.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection cut in the middle of an operation
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidCatalogNameError,  # the database does not exist
)


def translate(error: BaseException, doing: str) -> StoreError:
    if isinstance(error, StoreError):
        return error
    text = str(error) or type(error).__name__
    if isinstance(error, asyncpg.DataError | asyncpg.UndefinedColumnError):
        return StoreCorrupt(f"{doing}: {text}", reason=text)
    if isinstance(error, asyncpg.UndefinedTableError):
        return StoreUnavailable(
            f"{doing}: {text} (not a vm-registry database, or never written to)", reason=text
        )
    if isinstance(error, UNREACHABLE):
        # The reason reaches clients (503 bodies, /health): the driver's text names the host,
        # port or database, which stay in the operator's log only.
        return StoreUnavailable(
            f"{doing}: PostgreSQL is unreachable ({text})", reason="PostgreSQL is unreachable"
        )
    return StoreUnavailable(f"{doing}: {text}", reason=text)


DRIVER_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *UNREACHABLE)

# A connection of its own, or one lent by the pool: both run queries the same way.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


@contextlib.asynccontextmanager
async def translated(doing: str) -> AsyncIterator[None]:
    """Run the block; any driver error leaves it as a `StoreError`."""
    try:
        yield
    except DRIVER_ERRORS as error:
        raise translate(error, doing) from error
