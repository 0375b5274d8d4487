"""Fan-out against a real server: many watchers, a watcher that stops reading, hang-ups, and
shutdown with streams open."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx

from tests.feed.conftest import StartServer, async_client
from tests.feed.sse import Watch, beat, head, register, subscribers
from tests.support.polling import eventually_async as eventually
from tests.support.server import ServerProcess

_ids = itertools.count(1)

# Updates carrying ~60 KB of metadata: each event's frame is ~120 KB (the change and the entry
# after it), so a few dozen of them fill the socket buffers between server and a client that
# does not read (about 4 MB on Linux), and the rest must wait for it on the server.
BIG = {f"k{i}": "x" * 1000 for i in range(60)}


def fresh() -> str:
    return f"fan-{next(_ids)}"


async def big_updates(client: httpx.AsyncClient, vm_id: str, count: int) -> int:
    last = 0
    for n in range(count):
        response = await client.patch(f"/registry/vms/{vm_id}", json={"metadata": {**BIG, "n": n}})
        assert response.status_code == 200, response.text
        last = response.json()["revision"]
    return last


async def test_many_concurrent_watchers_all_get_every_event(http: httpx.AsyncClient) -> None:
    fleet = [fresh() for _ in range(4)]
    for vm_id in fleet:
        await register(http, vm_id)
    start = await head(http)
    watches = [Watch(http, {"after": start}) for _ in range(40)]
    await asyncio.gather(*(w.start() for w in watches))

    async def writer(vm_id: str) -> None:
        for _ in range(40):
            await beat(http, vm_id)

    await asyncio.gather(*(writer(vm_id) for vm_id in fleet))
    final = await head(http)
    try:
        for watch in watches:
            await watch.until_id(final, timeout=30)
    finally:
        await asyncio.gather(*(w.close() for w in watches))
    for watch in watches:
        assert watch.ids == list(range(start + 1, final + 1))


async def test_a_watcher_that_stops_reading_slows_no_one_and_later_gets_everything(
    feed_server: ServerProcess, http: httpx.AsyncClient
) -> None:
    vm_id = fresh()
    await register(http, vm_id)
    start = await head(http)
    behind = "fell"
    replays_before = feed_server.output().count(behind)

    async with Watch(http, {"after": start}) as slow, Watch(http) as fast:
        slow.reading.clear()
        async with asyncio.timeout(60):  # the writers are not held back: they finish
            final = await big_updates(http, vm_id, 200)
        await fast.until_id(final, timeout=30)  # nor are the other watchers
        assert fast.ids == list(range(start + 1, final + 1))
        assert len(slow.ids) < 10, "the slow watcher should still be far behind"

        slow.reading.set()
        await slow.until_id(final, timeout=60)
    assert slow.ids == list(range(start + 1, final + 1))
    assert [e.data["data"]["metadata"]["n"] for e in slow.events] == list(range(200))
    # It fell off the 50-event tail while stalled and caught up from the log.
    assert feed_server.output().count(behind) > replays_before


async def test_hanging_up_releases_the_subscription_promptly(
    feed_server: ServerProcess, http: httpx.AsyncClient
) -> None:
    vm_id = fresh()
    await register(http, vm_id)
    before = await subscribers(http)
    watches = [
        Watch(http),
        Watch(http, {"after": await head(http) - 1}),
        Watch(http, {"vm": vm_id, "types": "vm.updated"}),
        Watch(http, {"snapshot": "true"}),
        Watch(http),  # stalled, with a backlog, when it hangs up
    ]
    for watch in watches:
        await watch.start()
    watches[-1].reading.clear()
    await big_updates(http, vm_id, 50)
    assert await subscribers(http) == before + len(watches)
    for watch in watches:
        await watch.close()

    async def released() -> bool:
        return await subscribers(http) == before

    await eventually(released, timeout=10, what="subscriber count back where it was")


async def test_sigterm_with_open_streams_exits_0_within_a_few_seconds(
    start_server: StartServer,
) -> None:
    server = start_server()
    async with async_client(server.url) as client:
        vm_id = "sig-1"
        await register(client, vm_id)
        watches = [Watch(client), Watch(client, {"after": 0}), Watch(client, {"vm": vm_id})]
        for watch in watches:
            await watch.start()
        last = await beat(client, vm_id)
        for watch in watches:
            await watch.until_id(last)

        began = time.monotonic()
        code = await asyncio.to_thread(server.stop)
        took = time.monotonic() - began

        assert code == 0
        assert took < 8
        for watch in watches:
            await watch.until(lambda w: w.finished, timeout=5, what="the stream to end")
            # The server ended each response properly, rather than cutting the connection.
            assert watch.ended is None
    assert "returned without completing response" not in server.output()
