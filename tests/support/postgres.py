"""Fresh PostgreSQL databases for tests: one per test module, created and dropped here.

Tests never touch the shared `test` database itself (other suites use the same server at the
same time): each gets a database of its own with a random name, dropped with `FORCE` at the end
so a connection a failed test left open cannot keep it alive.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.support import requires


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # In a thread of its own: the caller may be inside (or between) pytest-asyncio's loops.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)


def execute_now(url: str, sql: str) -> None:
    """`execute` for a caller with no event loop of its own (a plain test function)."""
    _admin(url, sql)


def create_database(name: str) -> str:
    """Create database `name` and return its URL (skips, or fails in CI, without a server)."""
    server = requires.postgres_url()
    _admin(server, f'CREATE DATABASE "{name}"')
    return with_database(server, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    _admin(requires.POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(label: str = "t") -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    url = create_database(f"vmreg_{label}_{uuid.uuid4().hex[:10]}")
    try:
        yield url
    finally:
        drop_database(url)


async def reset(url: str) -> None:
    """Empty a test database between tests of one module (its tables go, the database stays)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
