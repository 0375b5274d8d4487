from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Conflict, NotFound, Unavailable
from vm_registry.persistence.errors import StoreUnavailable
from vm_registry.persistence.sql.log import SqlTransaction
from vm_registry.persistence.sqlite.log import SqliteEventLog
from vm_registry.persistence.store import open_store
from vm_registry.service.bootstrap import replay

DATA = {
    "name": "billing",
    "role": "lieutenant",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "orchestrator",
}


async def replayed(service: Service) -> object:
    """The state an offline replay of the service's stored log gives."""
    reader = await open_store(service.target, read_only=True)
    try:
        return await replay(reader.log)
    finally:
        await reader.close()


async def test_concurrent_registrations_of_one_id_give_exactly_one_success(
    service: Service,
) -> None:
    attempts = [
        service.execute(cmd.Register("vm-1", {**DATA, "name": f"attempt-{i}"})) for i in range(50)
    ]
    answers = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [a for a in answers if not isinstance(a, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(a, Conflict) for a in answers if a is not winners[0])
    entry = service.registry.get("vm-1")
    assert entry is not None
    assert entry.name == winners[0].entry.name  # type: ignore[union-attr]
    assert service.log.head == service.registry.revision == 1
    assert await replayed(service) == service.state


async def test_commands_in_one_group_commit_see_the_effects_of_earlier_ones(
    service: Service,
) -> None:
    answers = await asyncio.gather(
        service.execute(cmd.Register("vm-1", DATA)),
        service.execute(cmd.Heartbeat("vm-1")),
        service.execute(cmd.Deregister("vm-1")),
        service.execute(cmd.Heartbeat("vm-1")),
        service.execute(cmd.Register("vm-1", {**DATA, "name": "second life"})),
        service.execute(cmd.Update("vm-1", {"status": "paused"})),
        return_exceptions=True,
    )
    assert isinstance(answers[3], NotFound)
    succeeded = [a for i, a in enumerate(answers) if i != 3]
    assert [a.event.seq for a in succeeded] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    entry = service.registry.get("vm-1")
    assert entry is not None
    assert (entry.name, entry.status, entry.revision, entry.created_seq) == (
        "second life",
        "paused",
        5,
        4,
    )
    assert await replayed(service) == service.state


class FlakyLog(SqliteEventLog):
    """A real log whose commits fail while `failing` is set, as on a full disk."""

    failing = False

    @contextlib.asynccontextmanager
    async def locked(self, assume_head: int | None = None) -> AsyncIterator[SqlTransaction]:
        async with super().locked(assume_head) as tx:
            yield tx
            if self.failing:
                raise StoreUnavailable("disk is full")


async def test_a_failed_commit_refuses_the_whole_batch_and_the_projection_does_not_move(
    tmp_path: Path,
) -> None:
    service = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=FlakyLog).start()
    store = service.log
    assert isinstance(store, FlakyLog)
    try:
        await service.execute(cmd.Register("vm-1", DATA))
        store.failing = True
        answers = await asyncio.gather(
            service.execute(cmd.Heartbeat("vm-1")),
            service.execute(cmd.Register("vm-2", DATA)),
            return_exceptions=True,
        )
        assert all(isinstance(a, Unavailable) for a in answers), answers
        assert service.registry.revision == store.head == 1
        assert list(service.state.entries) == ["vm-1"]
        assert service.state.entries["vm-1"].revision == 1

        store.failing = False
        outcome = await service.execute(cmd.Register("vm-2", DATA))
        assert outcome.event.seq == 2  # no gap where the failed batch was
        assert await replayed(service) == service.state
    finally:
        await service.stop()


async def test_times_never_go_backwards_even_when_the_clock_does(service: Service) -> None:
    first = await service.execute(cmd.Register("vm-1", DATA))
    service.clock.now -= 60_000
    beat = await service.execute(cmd.Heartbeat("vm-1"))
    assert beat.event.at == first.event.at
    assert beat.entry is not None
    assert beat.entry.last_seen == first.event.at


async def test_a_stopped_writer_refuses_commands(tmp_path: Path) -> None:
    service = await Service(tmp_path / "registry.db", FakeClock(T0)).start()
    await service.stop()
    with pytest.raises(Unavailable):
        await service.execute(cmd.Heartbeat("vm-1"))


class SlowLog(SqliteEventLog):
    """A real log whose commit waits until the test lets it go, as on a saturated disk: the
    test knows when a batch is inside the transaction, and decides when it may commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inside = asyncio.Event()
        self.release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def locked(self, assume_head: int | None = None) -> AsyncIterator[SqlTransaction]:
        async with super().locked(assume_head) as tx:
            yield tx
            self.inside.set()
            await self.release.wait()


async def test_stopping_mid_batch_answers_its_callers_instead_of_leaving_them_hanging(
    tmp_path: Path,
) -> None:
    slow = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=SlowLog).start()
    log = slow.log
    assert isinstance(log, SlowLog)
    try:
        waiting = asyncio.ensure_future(slow.execute(cmd.Register("vm-1", DATA)))
        await asyncio.wait_for(log.inside.wait(), timeout=10)  # the batch is in the commit
        await slow.writer.stop(drain_seconds=0.05)  # and the commit never finishes
        with pytest.raises(Unavailable):
            await asyncio.wait_for(waiting, timeout=5)
    finally:
        await log.close()


async def test_stopping_lets_the_batch_in_flight_finish_first(tmp_path: Path) -> None:
    slow = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=SlowLog).start()
    log = slow.log
    assert isinstance(log, SlowLog)
    try:
        waiting = asyncio.ensure_future(slow.execute(cmd.Register("vm-1", DATA)))
        await asyncio.wait_for(log.inside.wait(), timeout=10)
        stopping = asyncio.ensure_future(slow.writer.stop())  # drains for up to 5 s
        await asyncio.sleep(0)  # stop() has begun draining before the commit finishes
        assert not stopping.done()
        log.release.set()
        await asyncio.wait_for(stopping, timeout=10)
        outcome = await asyncio.wait_for(waiting, timeout=5)
        assert outcome.event.seq == 1
    finally:
        await log.close()


async def test_the_answer_is_the_projections_entry_so_a_read_renders_from_the_cache(
    service: Service,
) -> None:
    from vm_registry.wire.render import EntryRenderer

    renderer = EntryRenderer()
    registered, beat = await asyncio.gather(
        service.execute(cmd.Register("vm-1", DATA)), service.execute(cmd.Heartbeat("vm-1"))
    )
    updated = await service.execute(cmd.Update("vm-1", {"status": "paused"}))
    assert updated.entry is service.registry.get("vm-1")
    answered = renderer.encode(updated.entry, False)  # the write's answer
    assert renderer.encode(service.registry.get("vm-1"), False) is answered  # the next GET
    # Within one group commit each command's answer is the entry right after it.
    assert registered.entry is not None and beat.entry is not None
    assert (registered.event.seq, beat.event.seq) == (1, 2)
    assert beat.entry.revision == 2 and registered.entry.revision == 1


async def test_reads_can_wait_for_a_revision_the_writer_has_not_folded_yet(
    service: Service,
) -> None:
    waiting = asyncio.ensure_future(service.writer.folded.wait_for(2, timeout=5))
    await service.execute(cmd.Register("vm-1", DATA))
    assert not waiting.done()
    await service.execute(cmd.Heartbeat("vm-1"))
    assert await waiting
    assert service.writer.folded.waiting == 0
