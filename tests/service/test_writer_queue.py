"""The writer's queue is bounded, and its overflow policy is that callers wait for room: a
flood slows clients down instead of growing memory, and nobody waiting is lost or reordered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from tests.service.test_writer import DATA, SlowLog
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Unavailable


async def test_a_full_queue_makes_callers_wait_for_room_and_loses_nobody(tmp_path: Path) -> None:
    slow = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=SlowLog).start()
    log = slow.log
    assert isinstance(log, SlowLog)
    slow.writer.queue_size = 2
    try:
        first = asyncio.ensure_future(slow.execute(cmd.Register("vm-0", DATA)))
        await asyncio.wait_for(log.inside.wait(), timeout=10)  # its batch is in the commit
        later = [
            asyncio.ensure_future(slow.execute(cmd.Register(f"vm-{n}", DATA))) for n in (1, 2, 3)
        ]
        await asyncio.sleep(0)  # each caller's task takes its first step

        assert slow.writer.queue_depth == 2  # the third waits for room, outside the queue
        assert not any(task.done() for task in (first, *later))

        log.release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(first, *later), timeout=10)
        assert [o.event.seq for o in outcomes] == [1, 2, 3, 4]
        assert list(slow.state.entries) == ["vm-0", "vm-1", "vm-2", "vm-3"]
    finally:
        await slow.stop()


async def test_callers_waiting_for_room_hear_when_the_writer_stops(tmp_path: Path) -> None:
    slow = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=SlowLog).start()
    log = slow.log
    assert isinstance(log, SlowLog)
    slow.writer.queue_size = 1
    try:
        first = asyncio.ensure_future(slow.execute(cmd.Register("vm-0", DATA)))
        await asyncio.wait_for(log.inside.wait(), timeout=10)
        queued = asyncio.ensure_future(slow.execute(cmd.Register("vm-1", DATA)))
        waiting = asyncio.ensure_future(slow.execute(cmd.Register("vm-2", DATA)))
        await asyncio.sleep(0)
        assert slow.writer.queue_depth == 1

        await slow.writer.stop(drain_seconds=0.05)  # the commit never finishes
        answers = await asyncio.wait_for(
            asyncio.gather(first, queued, waiting, return_exceptions=True), timeout=10
        )
        assert all(isinstance(a, Unavailable) for a in answers), answers
    finally:
        await log.close()


async def test_submit_soon_queues_in_order_and_leaves_a_full_queue_to_submit(
    tmp_path: Path,
) -> None:
    # The HTTP fast path's door: a future while there is room, None when the queue is full (the
    # caller then waits for room through `submit`), and its commands keep their place in line.
    slow = await Service(tmp_path / "registry.db", FakeClock(T0), log_class=SlowLog).start()
    log = slow.log
    assert isinstance(log, SlowLog)
    slow.writer.queue_size = 2
    try:
        first = asyncio.ensure_future(slow.execute(cmd.Register("vm-0", DATA)))
        await asyncio.wait_for(log.inside.wait(), timeout=10)
        soon = [slow.writer.submit_soon(cmd.Register(f"vm-{n}", DATA), {}) for n in (1, 2, 3)]
        assert soon[2] is None and slow.writer.queue_depth == 2

        log.release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(first, *soon[:2]), timeout=10)
        assert [o.event.seq for o in outcomes] == [1, 2, 3]
        assert list(slow.state.entries) == ["vm-0", "vm-1", "vm-2"]
    finally:
        await slow.stop()
