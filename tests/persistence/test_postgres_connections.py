"""PostgreSQL's connections come and go (restarts, failovers, idle-killers): the log, its
follower and its lease must notice and recover, never hang. Here a connection is cut from the
server side (`pg_terminate_backend`), as a restart would cut it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.persistence.contract import MIXED, append, new
from tests.support import postgres
from vm_registry.persistence.errors import StoreError, StoreUnavailable
from vm_registry.persistence.store import Store, open_store


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres.fresh_database("connections") as url:
        yield url


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    await postgres.reset(database)
    opened = await open_store(database)
    try:
        yield opened
    finally:
        await opened.close()


async def cut_connections(url: str, where: str = "TRUE") -> int:
    """Terminate this database's other connections that match `where`; how many."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND ({where})"
        )
        return len(rows)
    finally:
        await conn.close()


async def test_a_write_after_the_servers_side_cut_the_pool_succeeds_or_is_refused_cleanly(
    store: Store, database: str
) -> None:
    await append(store.log, MIXED[:2])
    assert await cut_connections(database) >= 1
    failures = []
    for _ in range(3):  # a dead pooled connection may fail one attempt, never more
        try:
            await append(store.log, [new("vm-after")])
            break
        except StoreError as error:
            failures.append(error)
    assert len(failures) <= 1, failures
    assert all(isinstance(error, StoreUnavailable) for error in failures)
    written = await append(store.log, [new("vm-later")])
    assert [e.seq for e in await store.log.read_after(0, 10)] == list(range(1, written[0].seq + 1))


async def test_the_follower_sees_every_append_after_its_listener_was_cut(
    store: Store, database: str
) -> None:
    follower = await open_store(database, read_only=True)
    changes = follower.log.heads()
    try:
        assert await asyncio.wait_for(anext(changes), 10) == 0
        await append(store.log, MIXED[:1])
        assert await asyncio.wait_for(anext(changes), 10) == 1
        assert await cut_connections(database, "query ILIKE 'LISTEN%'") == 1
        await append(store.log, MIXED[1:3])
        assert await asyncio.wait_for(anext(changes), 10) == 3
        await append(store.log, MIXED[3:4])  # and the listener is back: woken, not polled
        assert await asyncio.wait_for(anext(changes), 10) == 4
    finally:
        await changes.aclose()
        await follower.close()


async def test_a_lease_whose_connection_was_cut_is_no_longer_held_and_passes_on(
    store: Store, database: str
) -> None:
    other = await open_store(database)
    first, second = store.log.leadership(), other.log.leadership()
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        holder = "pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
        assert await cut_connections(database, holder) == 1
        for _ in range(100):  # the client learns of the cut when the socket closes
            if not first.held:
                break
            await asyncio.sleep(0.05)
        assert not first.held
        assert await second.try_acquire()
        assert not await first.try_acquire()  # a new connection, and the lock is taken
        assert not first.held
    finally:
        await first.release()
        await second.release()
        await other.close()
