"""What replicas on one log promise, as one suite run against each backend.

A backend's module subclasses `ReplicaSuite` and provides `replicas`: three running servers on
one log, shared by the class (each test uses ids of its own and leaves the servers running).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import vm
from tests.feed.sse import Watch
from tests.replicas.cluster import Cluster, eventually, whole_log
from vm_registry.client import AsyncRegistryClient, Snapshot


def new_id(prefix: str = "vm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def head_of(url: str) -> int:
    revision: int = httpx.get(f"{url}/health", timeout=5).json()["revision"]
    return revision


def log_head(replicas: Cluster) -> int:
    return max(head_of(url) for url in replicas.urls)


class RoundRobin(httpx.AsyncBaseTransport):
    """Each request to the next replica, as a load balancer without stickiness would."""

    def __init__(self, urls: list[str]) -> None:
        self._next = itertools.cycle([httpx.URL(url) for url in urls])
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = next(self._next)
        request.url = request.url.copy_with(host=target.host, port=target.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ReplicaSuite:
    @pytest.fixture
    async def clients(self, replicas: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
        made = [httpx.AsyncClient(base_url=url, timeout=10) for url in replicas.urls]
        try:
            yield made
        finally:
            for client in made:
                await client.aclose()

    def test_exactly_one_replica_leads_and_each_registered_itself(self, replicas: Cluster) -> None:
        eventually(lambda: len(replicas.leaders()) == 1, what="one leader")
        assert len(replicas.leaders()) == 1
        url = replicas.urls[0]

        def registered() -> list[str]:
            listing = httpx.get(f"{url}/registry/vms", params={"role": "infra"}, timeout=5)
            return [e["id"] for e in listing.json()["vms"] if e["id"].startswith("replica-")]

        names = [f"replica-{i}" for i in range(len(replicas.replicas))]
        eventually(lambda: set(registered()) >= set(names), what="every replica registered")

    async def test_writes_through_every_replica_reach_every_replica(
        self, replicas: Cluster, clients: list[httpx.AsyncClient]
    ) -> None:
        ids = [new_id() for _ in range(12)]
        revisions = []
        for n, vm_id in enumerate(ids):
            client = clients[n % len(clients)]
            answer = await client.post("/registry/vms", json=vm(vm_id))
            assert answer.status_code == 201, answer.text
            beat = await clients[(n + 1) % len(clients)].post(f"/registry/vms/{vm_id}/heartbeat")
            assert beat.status_code == 200, beat.text
            revisions.append(int(beat.headers["X-Registry-Revision"]))
        newest = max(revisions)
        views = []
        for client in clients:
            listing = await client.get("/registry/vms", params={"minRevision": newest})
            assert listing.status_code == 200, listing.text
            assert int(listing.headers["X-Registry-Revision"]) >= newest
            views.append({e["id"]: e for e in listing.json()["vms"] if e["id"] in ids})
        assert set(views[0]) == set(ids)
        assert views[0] == views[1] == views[2]
        # One log: every replica serves the same events under the same seqs.
        logs = [whole_log(url)[:newest] for url in replicas.urls]
        assert logs[0] == logs[1] == logs[2]
        assert [e["seq"] for e in logs[0]] == list(range(1, newest + 1))

    async def test_one_id_registered_through_every_replica_at_once_gives_one_201(
        self, clients: list[httpx.AsyncClient]
    ) -> None:
        for _ in range(5):
            vm_id = new_id()
            answers = await asyncio.gather(
                *(
                    c.post("/registry/vms", json=vm(vm_id, name=f"n{i}"))
                    for i, c in enumerate(clients)
                )
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [201, 409, 409], [a.text for a in answers]

    async def test_an_if_match_race_across_replicas_gives_one_200_and_412s(
        self, clients: list[httpx.AsyncClient]
    ) -> None:
        for _ in range(5):
            vm_id = new_id()
            created = await clients[0].post("/registry/vms", json=vm(vm_id))
            etag = created.headers["ETag"]
            minimum = {"minRevision": created.headers["X-Registry-Revision"]}
            answers = await asyncio.gather(
                *(
                    c.patch(
                        f"/registry/vms/{vm_id}",
                        json={"name": f"by-{i}"},
                        headers={"If-Match": etag},
                        params=minimum,
                    )
                    for i, c in enumerate(clients)
                )
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 412, 412], [a.text for a in answers]

    async def test_watchers_on_every_replica_see_every_event_once_in_log_order(
        self, replicas: Cluster, clients: list[httpx.AsyncClient]
    ) -> None:
        start = log_head(replicas)
        watches = [Watch(c, params={"after": start}) for c in clients]
        for watch in watches:
            await watch.start()
        try:
            ids = [new_id() for _ in range(9)]
            for n, vm_id in enumerate(ids):
                await clients[n % 3].post("/registry/vms", json=vm(vm_id))
                await clients[(n + 2) % 3].post(f"/registry/vms/{vm_id}/heartbeat")
            end = log_head(replicas)
            for watch in watches:
                await watch.until_id(end, timeout=15)
            log = [e for e in whole_log(replicas.urls[0]) if start < e["seq"] <= end]
            for watch in watches:
                got = [m.data for m in watch.events if m.id is not None and m.id <= end]
                assert [e["seq"] for e in got] == [e["seq"] for e in log]
                assert [(e["type"], e["vmId"]) for e in got] == [
                    (e["type"], e["vmId"]) for e in log
                ]
        finally:
            for watch in watches:
                await watch.close()

    async def test_a_last_event_id_from_one_replica_resumes_on_another(
        self, replicas: Cluster, clients: list[httpx.AsyncClient]
    ) -> None:
        a, b = clients[0], clients[1]
        start = log_head(replicas)
        async with Watch(a, params={"after": start}) as first:
            vm_id = new_id()
            await a.post("/registry/vms", json=vm(vm_id))
            await first.until_events(1)
            resume = first.events[0].id
        assert resume is not None
        for _ in range(3):
            await a.post(f"/registry/vms/{vm_id}/heartbeat")
        end = log_head(replicas)
        async with Watch(b, headers={"Last-Event-ID": str(resume)}) as second:
            await second.until_id(end)
            assert second.ids[: end - resume] == list(range(resume + 1, end + 1))

    async def test_a_one_vm_resume_on_a_replica_that_joined_later_replays_the_vms_history(
        self, replicas: Cluster, clients: list[httpx.AsyncClient]
    ) -> None:
        # Issue #25, item 12: the late replica's tail starts at the head it found, and its
        # one-VM watchers used to take it for the whole history (tests/feed has the restart).
        a = clients[0]
        start = log_head(replicas)
        v1, v2 = new_id(), new_id()
        for vm_id in (v1, v2):
            assert (await a.post("/registry/vms", json=vm(vm_id))).status_code == 201
        assert (await a.post(f"/registry/vms/{v1}/heartbeat")).status_code == 200
        late = replicas.join()
        try:
            assert (
                await clients[1].patch(f"/registry/vms/{v1}", json={"status": "paused"})
            ).is_success
            history = [e["seq"] for e in whole_log(replicas.urls[0]) if e["vmId"] == v1]
            assert len(history) == 3
            async with (
                httpx.AsyncClient(base_url=late.url, timeout=10) as client,
                Watch(client, params={"after": start, "vm": v1}) as watch,
            ):
                await watch.until_events(3, timeout=15)
                assert watch.ids == history
        finally:
            late.kill()

    async def test_a_set_watched_on_one_replica_resumes_on_another_with_its_leavers(
        self, replicas: Cluster, clients: list[httpx.AsyncClient]
    ) -> None:
        # Issue #24: replica b replays from the log what a's watcher of a selector missed, and
        # judges "in the set before the event" as a did live.
        a, b = clients[0], clients[1]
        run = uuid.uuid4().hex[:12]
        inside = {"run": run, "tier": "gold"}
        params = {"selector": f"run={run},tier=gold", "after": log_head(replicas)}
        v1, v2 = new_id(), new_id()
        async with Watch(a, params=params) as first:
            assert (await a.post("/registry/vms", json=vm(v1, metadata=inside))).is_success
            await first.until_events(1)
            resume = first.events[0].id
        assert (await a.post("/registry/vms", json=vm(v2, metadata=inside))).is_success
        assert (await a.patch(f"/registry/vms/{v1}", json={"metadata": {"run": run}})).is_success
        assert (await a.delete(f"/registry/vms/{v2}")).is_success
        async with Watch(b, params=params, headers={"Last-Event-ID": str(resume)}) as second:
            events = await second.until_events(3, timeout=15)
        seen = [(m.event, m.data["vmId"], m.data.get("left")) for m in events]
        assert seen == [
            ("vm.registered", v2, None),
            ("vm.updated", v1, True),
            ("vm.deregistered", v2, None),
        ]

    async def test_the_client_reads_its_writes_through_any_replica(self, replicas: Cluster) -> None:
        transport = RoundRobin(replicas.urls)
        async with AsyncRegistryClient(replicas.urls[0], transport=transport) as client:
            for _ in range(10):
                vm_id = new_id()
                await client.register(vm_id, "n", "worker", "a.vm.vers.sh", "tests")
                seen = await client.get(vm_id)  # served by the next replica
                assert seen.id == vm_id
                await client.update(vm_id, status="paused")
                listing = await client.discover("worker")
                assert vm_id not in {e.id for e in listing}  # paused: not discovered
                assert (await client.get(vm_id)).status == "paused"

    def test_health_says_how_far_each_replica_has_folded(self, replicas: Cluster) -> None:
        for replica in replicas.replicas:
            body: dict[str, Any] = replicas.health(replica)
            assert body["head"] >= body["revision"]
            assert body["lag"] == body["head"] - body["revision"]
            assert "logUnreachable" not in body

    async def test_a_watch_from_now_starts_after_the_clients_own_last_write(
        self, replicas: Cluster
    ) -> None:
        transport = RoundRobin(replicas.urls)
        async with AsyncRegistryClient(replicas.urls[0], transport=transport) as client:
            for _ in range(3):
                vm_id = new_id()
                await client.register(vm_id, "n", "worker", "a.vm.vers.sh", "tests")
                watch = client.watch(snapshot=True, role="worker")
                try:
                    first = await asyncio.wait_for(anext(watch), 15)
                finally:
                    await watch.aclose()
                assert isinstance(first, Snapshot)
                assert vm_id in {e.id for e in first.vms}
