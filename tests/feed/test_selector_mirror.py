"""The contract of a selector on the feed (issue #24): list with a selector, watch from the
list's revision with the same selector, apply the events (a `vm.deregistered` or a frame marked
`"left": true` removes the VM, any other sets it), and the mirror equals the list with that
selector at every revision. Random histories of registrations, PATCHes of metadata and status,
heartbeats and deregistrations against a real server; a second watcher resuming with
Last-Event-ID from the middle gets exactly the rest of the first one's frames.

The feed server's tail holds 50 events, so long histories also take the replay path.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.feed.conftest import async_client
from tests.feed.sse import Message, Watch
from tests.support.server import ServerProcess

VMS = 4
SELECTORS = [
    "tier=a",
    "tier in (a, b),!spot",
    "gpu.model==x",
    "tier!=a",
    "gpu",
    "spot=false,tier notin (b)",
]
METADATA = st.fixed_dictionaries(
    {},
    optional={
        "tier": st.sampled_from(["a", "b"]),
        "gpu": st.sampled_from([{"model": "x"}, {"model": "y"}, ["x"], "x"]),
        "spot": st.booleans(),
    },
)
OPS = st.one_of(
    st.tuples(st.just("register"), st.integers(0, VMS - 1), METADATA, st.booleans()),
    st.tuples(st.just("metadata"), st.integers(0, VMS - 1), METADATA, st.booleans()),
    st.tuples(st.just("status"), st.integers(0, VMS - 1), st.just({}), st.booleans()),
    st.tuples(st.just("heartbeat"), st.integers(0, VMS - 1), st.just({}), st.booleans()),
    st.tuples(st.just("deregister"), st.integers(0, VMS - 1), st.just({}), st.booleans()),
)
Op = tuple[str, int, dict[str, Any], bool]


async def write(client: httpx.AsyncClient, run: str, op: Op) -> int | None:
    """Perform `op`; the revision it made, or None when the registry refused it."""
    kind, index, metadata, in_run = op
    vm_id = f"{run}-{index}"
    # Mostly inside this example's run; now and then a VM drops out of it by its metadata.
    labelled = {**metadata, "run": run} if in_run else metadata
    if kind == "register":
        body = {"id": vm_id, "name": vm_id, "role": "worker", "address": "a", "registeredBy": "t"}
        answer = await client.post("/registry/vms", json={**body, "metadata": labelled})
    elif kind == "metadata":
        answer = await client.patch(f"/registry/vms/{vm_id}", json={"metadata": labelled})
    elif kind == "status":
        status = "paused" if in_run else "running"
        answer = await client.patch(f"/registry/vms/{vm_id}", json={"status": status})
    elif kind == "heartbeat":
        answer = await client.post(f"/registry/vms/{vm_id}/heartbeat")
    else:
        answer = await client.delete(f"/registry/vms/{vm_id}")
    if answer.status_code >= 400:
        assert answer.status_code in (404, 409), answer.text
        return None
    return int(answer.headers["x-registry-revision"])


async def listed(client: httpx.AsyncClient, selector: str, at: int | None = None) -> Any:
    params: dict[str, str | int] = {"selector": selector}
    if at is not None:
        params["at"] = at
    answer = await client.get("/registry/vms", params=params)
    assert answer.status_code == 200, answer.text
    return answer


def apply(mirror: dict[str, Any], message: Message) -> None:
    vm_id = message.data["vmId"]
    if message.event == "vm.deregistered" or message.data.get("left"):
        assert vm_id in mirror, f"told that {vm_id} left a set it was not in: {message}"
        del mirror[vm_id]
    else:
        mirror[vm_id] = message.data["vm"]


async def scenario(url: str, before: list[Op], after: list[Op], choice: int) -> None:
    run = uuid.uuid4().hex[:12]
    selector = f"run={run},{SELECTORS[choice]}"
    async with async_client(url) as client:
        for op in before:
            await write(client, run, op)
        first = await listed(client, selector)
        start = int(first.headers["x-registry-revision"])
        mirror = {vm["id"]: vm for vm in first.json()["vms"]}
        params: dict[str, str | int] = {"selector": selector, "after": start}
        async with Watch(client, params=params) as watch:
            revisions = [r for r in [await write(client, run, op) for op in after] if r]
            last = max(revisions, default=start)
            if revisions:  # else nothing was written: no frame comes
                await watch.until_id(last)
        events = [m for m in watch.events if m.id is not None and m.id <= last]
        for revision in [start, *revisions]:
            for message in events:
                if message.id is not None and message.id <= revision:
                    apply(mirror, message)
            events = [m for m in events if m.id is not None and m.id > revision]
            expected = (await listed(client, selector, at=revision)).json()["vms"]
            assert mirror == {vm["id"]: vm for vm in expected}, f"at revision {revision}"
        if len(watch.events) > 1:
            # Not the last event: the resumed watcher must have something to receive.
            middle = watch.events[(len(watch.events) - 1) // 2]
            headers = {"Last-Event-ID": str(middle.id)}
            async with Watch(client, params=params, headers=headers) as resumed:
                await resumed.until_id(last)
            rest = [m for m in watch.events if m.id is not None and m.id > (middle.id or 0)]
            assert [(m.id, m.data) for m in resumed.events if m.id and m.id <= last] == [
                (m.id, m.data) for m in rest if m.id <= last
            ]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    before=st.lists(OPS, max_size=8),
    after=st.lists(OPS, min_size=1, max_size=16),
    choice=st.integers(0, len(SELECTORS) - 1),
)
def test_a_mirror_of_a_selection_equals_the_list_at_every_revision(
    feed_server: ServerProcess, before: list[Op], after: list[Op], choice: int
) -> None:
    asyncio.run(scenario(feed_server.url, before, after, choice))
