"""A watcher of a set (`?selector=`) resuming from before a restart (issue #24): the events it
missed are replayed from the log, and the replay judges "was in the set before the event" as
the live feed does, so a VM that left by a PATCH still comes marked `"left": true`."""

from __future__ import annotations

from tests.feed.conftest import StartServer, async_client
from tests.feed.sse import Watch, register


async def test_a_set_resumes_across_a_restart_with_its_leavers_marked(
    start_server: StartServer,
) -> None:
    server = start_server()
    gold = {"tier": "gold"}
    async with async_client(server.url) as client:
        await register(client, "a", metadata=gold)
        await register(client, "b", metadata={"tier": "tin"})
        await client.patch("/registry/vms/a", json={"metadata": {"tier": "tin"}})  # a leaves
        await client.patch("/registry/vms/b", json={"metadata": gold})  # b enters
    server.stop()
    server = start_server(db=server.db)
    async with async_client(server.url) as client:
        await client.delete("/registry/vms/b")
        headers = {"Last-Event-ID": "0"}
        async with Watch(client, params={"selector": "tier=gold"}, headers=headers) as watch:
            events = await watch.until_events(4)
    assert [(m.id, m.event, m.data["vmId"], m.data.get("left")) for m in events] == [
        (1, "vm.registered", "a", None),
        (3, "vm.updated", "a", True),
        (4, "vm.updated", "b", None),
        (5, "vm.deregistered", "b", None),
    ]
