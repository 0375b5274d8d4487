"""The gate reads wait at for read-your-writes: pure asyncio, no store."""

from __future__ import annotations

import asyncio

from vm_registry.service.revisions import RevisionGate


async def test_a_folded_revision_answers_at_once() -> None:
    gate = RevisionGate(5)
    assert await gate.wait_for(5, timeout=0)
    assert await gate.wait_for(3, timeout=0)


async def test_waiters_wake_in_order_as_the_projection_advances() -> None:
    gate = RevisionGate(0)
    woken: list[int] = []

    async def wait(revision: int) -> None:
        assert await gate.wait_for(revision, timeout=10)
        woken.append(revision)

    tasks = [asyncio.ensure_future(wait(r)) for r in (3, 1, 2, 7)]
    await asyncio.sleep(0)
    gate.advance(2)
    await asyncio.sleep(0)
    assert sorted(woken) == [1, 2]
    gate.advance(6)
    await asyncio.sleep(0)
    assert sorted(woken) == [1, 2, 3]
    gate.advance(7)
    await asyncio.gather(*tasks)
    assert gate.waiting == 0


async def test_a_revision_not_reached_in_time_gives_up_and_leaves_nothing_behind() -> None:
    gate = RevisionGate(0)
    assert not await gate.wait_for(10**12, timeout=0.01)
    assert gate.waiting == 0
    gate.advance(1)  # nothing left to wake


async def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    gate = RevisionGate(0)
    task = asyncio.ensure_future(gate.wait_for(5, timeout=10))
    await asyncio.sleep(0)
    assert gate.waiting == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gate.waiting == 0
