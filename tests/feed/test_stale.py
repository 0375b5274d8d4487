"""Staleness on the feed, and the mass-expiry guard, against a real server with a 1 s window.

Waits are bounded and generous; the assertions are about what a watcher, `discover` and
`/health` show, never about exact timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx

from tests.feed.conftest import StartServer, async_client
from tests.feed.sse import Watch, beat, head, register
from tests.support.fixtures import server_fixture
from tests.support.polling import eventually_async as eventually
from tests.support.server import ServerProcess

STALE = ["--stale-after", "1"]


# For the tests whose fleets stay below the guard's minimum of 10 VMs, together.
stale_server = server_fixture("stale", *STALE)


def stale_events(watch: Watch) -> list[str]:
    return [e.data["vmId"] for e in watch.events if e.event == "vm.stale"]


async def health(client: httpx.AsyncClient) -> dict[str, object]:
    body: dict[str, object] = (await client.get("/health")).json()
    return body


async def discovered(client: httpx.AsyncClient) -> set[str]:
    return {vm["id"] for vm in (await client.get("/registry/discover/worker")).json()["vms"]}


async def register_fleet(client: httpx.AsyncClient, prefix: str, size: int) -> list[str]:
    """Registered together, so that they all go silent at the same moment."""
    fleet = [f"{prefix}-{n}" for n in range(size)]
    await asyncio.gather(*(register(client, vm_id) for vm_id in fleet))
    return fleet


@contextlib.asynccontextmanager
async def heartbeating(client: httpx.AsyncClient, fleet: list[str]) -> AsyncIterator[None]:
    """Agents that keep checking in, well inside the window, until the block ends."""

    async def agent(vm_id: str) -> None:
        while True:
            await beat(client, vm_id)
            await asyncio.sleep(0.2)

    tasks = [asyncio.create_task(agent(vm_id)) for vm_id in fleet]
    await asyncio.sleep(0.1)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_silent_vm_goes_stale_once_and_a_heartbeat_brings_it_back(
    stale_server: ServerProcess,
) -> None:
    async with async_client(stale_server.url) as client, Watch(client) as watch:
        await register(client, "quiet-1")
        await eventually(lambda: stale_events(watch), timeout=10, what="a vm.stale event")
        stale = next(e for e in watch.events if e.event == "vm.stale")
        assert stale.data["vmId"] == "quiet-1"
        assert stale.data["actor"] == {"system": "reaper"}
        assert stale.data["vm"]["stale"] is True
        entry = (await client.get("/registry/vms/quiet-1")).json()
        assert entry["stale"] is True
        assert "quiet-1" not in await discovered(client)

        await asyncio.sleep(1.2)  # another window passes: still one episode, one event
        assert stale_events(watch) == ["quiet-1"]

        back = await beat(client, "quiet-1")
        await watch.until_id(back)
        recovered = watch.events[-1]
        assert recovered.event == "vm.heartbeat"
        assert recovered.data["vm"]["stale"] is False
        assert (await client.get("/registry/vms/quiet-1")).json()["stale"] is False
        assert "quiet-1" in await discovered(client)

        # Silent again: a new episode, a new event.
        await eventually(lambda: len(stale_events(watch)) == 2, timeout=10, what="episode 2")


async def test_after_a_restart_every_vm_gets_a_full_window_before_it_goes_stale(
    start_server: StartServer,
) -> None:
    window = ["--stale-after", "2"]
    first = start_server(*window)
    async with async_client(first.url) as client:
        await register(client, "restarted-1")
        last_seen = time.monotonic()
    assert first.stop() == 0
    await asyncio.sleep(max(0.0, last_seen + 2.2 - time.monotonic()))  # down past the window

    second = start_server(*window)
    async with async_client(second.url) as client, Watch(client, {"after": 0}) as watch:
        revision = await head(client)
        await watch.until_id(revision)
        # Downtime does not count: not stale now, although last seen more than 2 s ago.
        assert (await client.get("/registry/vms/restarted-1")).json()["stale"] is False
        assert "restarted-1" in await discovered(client)
        assert stale_events(watch) == []
        # ...but a VM that stays silent for a window after the restart does go stale.
        await eventually(lambda: stale_events(watch), timeout=10, what="a vm.stale event")
        assert stale_events(watch) == ["restarted-1"]


async def test_a_small_fleet_going_silent_at_once_just_goes_stale(
    stale_server: ServerProcess,
) -> None:
    async with async_client(stale_server.url) as client, Watch(client) as watch:
        fleet = await register_fleet(client, "small", 4)  # below the guard's minimum of 10
        await eventually(lambda: len(stale_events(watch)) == 4, timeout=10, what="4 stale")
        assert sorted(stale_events(watch)) == fleet
        assert (await health(client))["stalenessSuspended"] is False
        assert not set(fleet) & await discovered(client)


async def test_one_silent_vm_of_a_large_fleet_just_goes_stale(start_server: StartServer) -> None:
    server = start_server(*STALE)
    async with async_client(server.url) as client, Watch(client) as watch:
        fleet = await register_fleet(client, "large", 12)
        silent, alive = fleet[0], fleet[1:]
        async with heartbeating(client, alive):
            await eventually(lambda: stale_events(watch), timeout=10, what="a vm.stale event")
            await asyncio.sleep(0.6)
            assert stale_events(watch) == [silent]
            assert (await health(client))["stalenessSuspended"] is False
            assert await discovered(client) == set(alive)


async def test_a_fleet_going_silent_at_once_is_kept_and_the_guard_lets_go_when_agents_return(
    start_server: StartServer,
) -> None:
    # The reaper looks every 0.5 s, so it sees the whole fleet cross the line in one look.
    server = start_server(*STALE, "--reap-interval", "0.5", "--guard-max-hold", "60")
    async with async_client(server.url) as client, Watch(client) as watch:
        fleet = await register_fleet(client, "fleet", 10)

        async def suspended() -> bool:
            return (await health(client))["stalenessSuspended"] is True

        await eventually(suspended, timeout=10, what="the guard to hold")
        status = await health(client)
        assert "mass expiry" in str(status["warning"])
        await asyncio.sleep(1.1)  # a window passes while it holds
        assert stale_events(watch) == []
        assert await discovered(client) == set(fleet)
        assert "mass expiry suspected" in server.output()

        # Most agents come back; the three still silent then go stale as usual.
        silent, back = fleet[:3], fleet[3:]
        async with heartbeating(client, back):

            async def released() -> bool:
                return (await health(client))["stalenessSuspended"] is False

            await eventually(released, timeout=10, what="the guard to let go")
            await eventually(lambda: len(stale_events(watch)) == 3, timeout=10, what="3 stale")
            await asyncio.sleep(0.6)
            assert sorted(stale_events(watch)) == silent
            assert await discovered(client) == set(back)
        assert "guard released: heartbeats resumed" in server.output()


async def test_the_guard_lets_go_after_its_time_limit_and_silent_vms_go_stale(
    start_server: StartServer,
) -> None:
    server = start_server(*STALE, "--reap-interval", "0.5", "--guard-max-hold", "1.5")
    async with async_client(server.url) as client, Watch(client) as watch:
        fleet = await register_fleet(client, "held", 10)
        await eventually(lambda: len(stale_events(watch)) == 10, timeout=15, what="10 stale")
        assert sorted(stale_events(watch)) == fleet
        assert (await health(client))["stalenessSuspended"] is False
        assert await discovered(client) == set()
    output = server.output()
    assert output.index("mass expiry suspected") < output.index("the guard's time limit passed")


async def test_with_the_guard_off_a_silent_fleet_goes_stale(start_server: StartServer) -> None:
    server = start_server(*STALE, "--reap-interval", "0.5", "--no-expiry-guard")
    async with async_client(server.url) as client, Watch(client) as watch:
        fleet = await register_fleet(client, "unguarded", 10)
        await eventually(lambda: len(stale_events(watch)) == 10, timeout=10, what="10 stale")
        assert sorted(stale_events(watch)) == fleet
        assert (await health(client))["stalenessSuspended"] is False
    assert "mass expiry suspected" not in server.output()
