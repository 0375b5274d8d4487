"""PostgreSQL stopped and started again under a log, its follower and its lease (on a cluster of
this test's own: the shared server is never stopped). Writes are refused within bounds while
it is down, never hang; afterwards every handle reconnects by itself and nothing is missed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.persistence.contract import MIXED, append, new
from tests.support.throwaway_postgres import ThrowawayPostgres
from vm_registry.persistence.errors import StoreUnavailable
from vm_registry.persistence.store import open_store


@pytest.fixture(scope="module")
def throwaway() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres().init()
    try:
        yield cluster
    finally:
        cluster.destroy()


async def test_the_log_its_follower_and_its_lease_recover_from_a_restart(
    throwaway: ThrowawayPostgres,
) -> None:
    store = await open_store(throwaway.url)
    follower = await open_store(throwaway.url, read_only=True)
    changes = follower.log.heads()
    lease = store.log.leadership()
    waiting: asyncio.Future[int] | None = None
    try:
        await append(store.log, MIXED[:2])
        assert await asyncio.wait_for(anext(changes), 10) == 2
        assert await lease.try_acquire()

        await asyncio.to_thread(throwaway.stop, "fast")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await append(store.log, [new("vm-down")])
        assert time.monotonic() - started < 15  # refused within the bounds, never a hang
        waiting = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # nothing to report while the server is gone
        for _ in range(100):
            if not lease.held:
                break
            await asyncio.sleep(0.05)
        assert not lease.held

        await asyncio.to_thread(throwaway.start)
        await asyncio.to_thread(throwaway.wait_ready)
        written = None
        for _ in range(50):  # the first attempts may still meet the old, dead connections
            try:
                written = await append(store.log, [new("vm-back")])
                break
            except StoreUnavailable:
                await asyncio.sleep(0.1)
        assert written is not None and written[0].seq == 3
        assert await asyncio.wait_for(waiting, 20) == 3  # the follower reconnected by itself
        assert [e.seq for e in await follower.log.read_after(0, 10)] == [1, 2, 3]
        assert await lease.try_acquire()
    finally:
        if waiting is not None:
            waiting.cancel()
        await changes.aclose()
        await lease.release()
        await follower.close()
        await store.close()
