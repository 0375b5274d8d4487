"""Issue #25, item 12: a watcher of one VM (`?vm=`) resuming from before a restart missed the
VM's history. Register v1 and v2, heartbeat v1, restart the server, PATCH v1: the stream with
`after=0&vm=v1` delivered only the PATCH, while `/registry/events?vm=v1` listed all three. The
tail started empty at the log's head but claimed (`covers_vm`) to hold every VM's events after
seq 0, so the watcher never read the log. It now counts everything before its start as lost to
it, so a resume from further back replays from the log, for every VM.

The same on a replica that joined after the history: tests/replicas/suite.py.
"""

from __future__ import annotations

import httpx

from tests.feed.conftest import StartServer, async_client
from tests.feed.sse import Watch, beat, register


def vm_seqs(url: str, vm_id: str) -> list[int]:
    page = httpx.get(f"{url}/registry/events", params={"vm": vm_id}, timeout=10).json()
    return [event["seq"] for event in page["events"]]


async def test_a_one_vm_resume_from_before_a_restart_replays_the_vms_history(
    start_server: StartServer,
) -> None:
    server = start_server()
    async with async_client(server.url) as client:
        await register(client, "v1")
        await register(client, "v2")
        await beat(client, "v1")
    server.stop()
    server = start_server(db=server.db)
    async with async_client(server.url) as client:
        answer = await client.patch("/registry/vms/v1", json={"status": "paused"})
        assert answer.status_code == 200, answer.text
        history = vm_seqs(server.url, "v1")
        assert len(history) == 3
        for after in (0, history[0]):
            async with Watch(client, params={"after": after, "vm": "v1"}) as watch:
                wanted = [seq for seq in history if seq > after]
                await watch.until_events(len(wanted))
                assert watch.ids == wanted
                assert {m.data["vmId"] for m in watch.events} == {"v1"}
