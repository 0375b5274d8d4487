"""Faults of replicas on PostgreSQL: the shared fault suite on a fresh database per test, and
PostgreSQL itself stopped and started again under load (on a throwaway cluster of the test's
own, never the shared server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.feed.sse import Watch
from tests.replicas.cluster import cluster, eventually, whole_log
from tests.replicas.faults import FaultSuite, Writers, new_id
from tests.support import postgres
from tests.support.throwaway_postgres import ThrowawayPostgres


class TestPostgresFaults(FaultSuite):
    @pytest.fixture
    def target(self) -> Iterator[str]:
        with postgres.fresh_database("faults") as url:
            yield url


@pytest.fixture
def throwaway() -> Iterator[ThrowawayPostgres]:
    postgres_server = ThrowawayPostgres().init()
    try:
        yield postgres_server
    finally:
        postgres_server.destroy()


OUTAGE_SECONDS = 3.0


async def test_postgresql_restarted_under_load(
    tmp_path: Path, throwaway: ThrowawayPostgres
) -> None:
    with cluster(tmp_path, throwaway.url, 3) as replicas:
        start = max(replicas.health(r)["revision"] for r in replicas.replicas)
        clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in replicas.urls]
        watches = [Watch(c, params={"after": start}) for c in clients]
        try:
            for watch in watches:
                await watch.start()
            with Writers(replicas) as writers:
                time.sleep(1.0)
                throwaway.stop("fast")
                try:
                    # Writes are refused at once with a reason; reads go on from memory.
                    began = time.monotonic()
                    refused = httpx.post(f"{replicas.urls[0]}/registry/vms", json=vm(new_id()))
                    assert time.monotonic() - began < 10
                    assert refused.status_code == 503, refused.text
                    assert refused.headers["Retry-After"]
                    assert "error" in refused.json()
                    # Where the database lives stays in the operator's log, not in answers.
                    assert str(throwaway.port) not in refused.text
                    for url in replicas.urls:
                        assert httpx.get(f"{url}/registry/vms", timeout=5).status_code == 200
                    for replica in replicas.replicas:
                        eventually(
                            lambda r=replica: "logUnreachable" in replicas.health(r),
                            timeout=10,
                            what="/health says the log is unreachable",
                        )
                    time.sleep(OUTAGE_SECONDS)
                finally:
                    throwaway.start()
                    throwaway.wait_ready()
                for url in replicas.urls:

                    def writes_again(url: str = url) -> bool:
                        answer = httpx.post(f"{url}/registry/vms", json=vm(new_id()), timeout=10)
                        return answer.status_code == 201

                    eventually(writes_again, timeout=30, what=f"{url} writes again")
                time.sleep(0.5)
            assert writers.timeouts == 0
            assert 500 not in writers.statuses, writers.errors
            assert all(status in (200, 201, 503) for status in writers.statuses)
            log = whole_log(replicas.urls[0])
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
            by_seq = {e["seq"]: (e["type"], e["vmId"]) for e in log}
            for seq, kind, vm_id in writers.acknowledged:
                assert by_seq[seq] == (kind, vm_id)
            end = log[-1]["seq"]
            for watch in watches:
                await watch.until_id(end, timeout=30)
                assert watch.ids[: end - start] == list(range(start + 1, end + 1))  # exactly once
            for replica in replicas.replicas:
                eventually(
                    lambda r=replica: "logUnreachable" not in replicas.health(r),
                    timeout=15,
                    what="/health recovered",
                )
        finally:
            for watch in watches:
                await watch.close()
            for client in clients:
                await client.aclose()
