"""`?selector=` on the stream (issue #24): what a watcher of a set sees when a VM enters it,
changes in it, leaves it by a PATCH of its metadata (its `vm.updated`, marked `"left": true`)
or is deregistered (a plain `vm.deregistered`), and that a malformed selector is refused."""

from __future__ import annotations

import uuid

import httpx

from tests.feed.sse import Watch, refusal, register
from tests.support.answers import error_of


async def test_a_watcher_of_a_set_tells_leaving_from_deregistration(
    http: httpx.AsyncClient,
) -> None:
    run = uuid.uuid4().hex[:12]
    selector = f"run={run},tier=gold"
    inside = {"run": run, "tier": "gold"}
    await register(http, f"{run}-out", metadata={"run": run, "tier": "tin"})
    async with Watch(http, params={"selector": selector, "snapshot": "true"}) as watch:
        await register(http, f"{run}-a", metadata=inside)
        await register(http, f"{run}-b", metadata=inside)
        await http.patch(f"/registry/vms/{run}-out", json={"status": "paused"})  # not in the set
        await http.patch(f"/registry/vms/{run}-a", json={"metadata": {"run": run}})  # leaves
        await http.delete(f"/registry/vms/{run}-b")  # deregistered
        await http.patch(f"/registry/vms/{run}-out", json={"metadata": inside})  # enters
        events = await watch.until_events(5)
    snapshot = [m for m in watch.messages if m.event == "snapshot"]
    assert snapshot[0].data["vms"] == []
    seen = [(m.event, m.data["vmId"].rsplit("-", 1)[1], m.data.get("left")) for m in events]
    assert seen == [
        ("vm.registered", "a", None),
        ("vm.registered", "b", None),
        ("vm.updated", "a", True),
        ("vm.deregistered", "b", None),
        ("vm.updated", "out", None),
    ]
    assert events[2].data["vm"]["metadata"] == {"run": run}  # what it became


async def test_the_snapshot_holds_only_the_set(http: httpx.AsyncClient) -> None:
    run = uuid.uuid4().hex[:12]
    await register(http, f"{run}-a", metadata={"run": run, "n": 1})
    await register(http, f"{run}-b", metadata={"run": run, "n": 2})
    params = {"selector": f"run={run},n in (2,3)", "snapshot": "true"}
    async with Watch(http, params=params) as watch:
        await watch.until(lambda w: any(m.event == "snapshot" for m in w.messages))
    (snapshot,) = [m for m in watch.messages if m.event == "snapshot"]
    assert [vm["id"] for vm in snapshot.data["vms"]] == [f"{run}-b"]


async def test_a_malformed_selector_is_refused_before_the_stream_opens(
    http: httpx.AsyncClient,
) -> None:
    message = error_of(await refusal(http, params={"selector": "a in (b"}), 400)
    assert "selector is malformed at character 8" in message
