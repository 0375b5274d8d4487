"""The contract for intern caches that let ids go (issue #25, 4): with budgets of a few KiB,
every VM id and actor an earlier batch named falls out of the caches, and the log must still
read, replay, find and reuse them exactly as with caches that hold everything.

A mixin of the backend contract: it uses the `make_store` and `raw_sql` fixtures of
`StoreContract` (tests/persistence/contract.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.domain.strategies import T0
from tests.persistence.contract import (
    REGISTRATION,
    StoreFactory,
    append,
    new,
    replay_view,
    replayed_rows,
    scan_all,
)
from vm_registry.domain import events as ev
from vm_registry.persistence import id_tables
from vm_registry.persistence.log import EventQuery
from vm_registry.service.bootstrap import replay

# A few dozen entries each: every batch of 40 new VMs and actors lets earlier ones go.
TINY = 4 * 1024


def actor(n: int) -> dict[str, Any]:
    return {"ip": "127.0.0.1", "userAgent": f"agent {n:04d} " + "u" * 100}


def batch(first: int, count: int) -> list[Any]:
    return [
        new(f"vm-{n:04d}", ev.REGISTERED, T0 + n, actor(n), dict(REGISTRATION))
        for n in range(first, first + count)
    ]


class IdTablesContract:
    @pytest.fixture
    def tiny_caches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(id_tables, "VM_CACHE_BYTES", TINY)
        monkeypatch.setattr(id_tables, "ACTOR_CACHE_BYTES", TINY)

    @pytest.mark.usefixtures("tiny_caches")
    async def test_ids_the_caches_let_go_are_read_found_and_reused(
        self, make_store: StoreFactory
    ) -> None:
        store = await make_store()
        try:
            log = store.log
            written = []
            for first in range(0, 200, 40):
                written += await append(log, batch(first, 40))
            # The first VMs and actors again: the same ids, not new rows (the tables' UNIQUE
            # constraints would refuse a second row, and the append would fail).
            again = [new("vm-0000", ev.HEARTBEAT, T0 + 500, actor(0))]
            again.append(new("vm-0001", ev.HEARTBEAT, T0 + 501, actor(199)))
            written += await append(log, again)
            assert await scan_all(log) == written
            assert [e.seq for e in await log.read(EventQuery(vm_id="vm-0000"))] == [1, 201]
            assert await log.vm_known("vm-0003")
            assert not await log.vm_known("vm-never")
            assert await replayed_rows(log) == replay_view(written)
            state = await replay(log)
            assert sorted(state.entries) == sorted({e.vm_id for e in written})
        finally:
            await store.close()

    @pytest.mark.usefixtures("tiny_caches")
    async def test_a_second_handle_reads_what_the_first_wrote_through_tiny_caches(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        try:
            written = await append(one.log, batch(0, 120))
            written += await append(two.log, [*batch(120, 40), new("vm-0005", actor=actor(5))])
            for store in (one, two):
                assert await scan_all(store.log) == written
                assert await replayed_rows(store.log) == replay_view(written)
        finally:
            await one.close()
            await two.close()
