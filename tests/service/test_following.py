"""Two services on one SQLite file in one process: the writer folds what the other committed,
decides against it, and reads with a revision wait for it (or give up within the bound)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Conflict, Invalid, Unavailable
from vm_registry.service.following import Follower

DATA = {"name": "a", "role": "worker", "address": "a.vm.vers.sh", "registeredBy": "tests"}


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Service, Service]]:
    db = tmp_path / "registry.db"
    a = await Service(db, FakeClock(T0)).start()
    b = await Service(db, FakeClock(T0)).start()
    try:
        yield a, b
    finally:
        await b.stop()
        await a.stop()


async def test_a_write_is_decided_against_what_the_other_process_committed(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    first = await a.execute(cmd.Register("vm-1", DATA))
    with pytest.raises(Conflict):  # b has not followed yet; the lock makes it fold first
        await b.execute(cmd.Register("vm-1", DATA))
    beat = await b.execute(cmd.Heartbeat("vm-1"))
    assert beat.event.seq == first.event.seq + 1
    assert [o.event.seq for o in b.published] == [1, 2]  # a's event reached b's feed first
    fresh = await Service(a.db, FakeClock(T0)).start()  # a third process, replaying the log
    try:
        assert b.state == fresh.state
    finally:
        await fresh.stop()


async def test_a_refusal_is_decided_against_what_the_other_process_committed(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    await b.execute(cmd.Register("vm-0", DATA))  # b has committed, so it knows its own head
    registered = await a.execute(cmd.Register("vm-1", DATA))
    # b has not followed: against the head it knows, vm-1 does not exist. The heartbeat is
    # refused only if it is still refused once b has folded a's event, which it is not.
    beat = await b.execute(cmd.Heartbeat("vm-1"))
    assert beat.event.seq == registered.event.seq + 1
    assert beat.entry is not None and beat.entry.last_seen == T0


async def test_a_read_waits_for_a_revision_until_the_follower_brings_it(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    b.registry.min_revision_wait = 0.05
    written = await a.execute(cmd.Register("vm-1", DATA))
    with pytest.raises(Unavailable, match="not yet 1"):
        await b.registry.caught_up(written.event.seq)
    with pytest.raises(Invalid, match="beyond the head"):
        await b.registry.caught_up(written.event.seq + 10)
    follower = Follower(b.log, b.writer)
    follower.start()
    try:
        b.registry.min_revision_wait = 10
        await asyncio.wait_for(b.registry.caught_up(written.event.seq), 10)
        assert b.registry.get("vm-1") is not None
        assert b.registry.lag == 0
    finally:
        await follower.stop()
