"""A deadline fires once its time has passed, and not if cleared first or set further on."""

from __future__ import annotations

import asyncio

from vm_registry.cli.deadlines import Deadline


async def test_a_deadline_fires_once_after_its_time() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    deadline = Deadline(loop, lambda: fired.append(loop.time()))
    started = loop.time()
    deadline.set(0.05)
    assert deadline.armed
    await asyncio.sleep(0.2)
    assert len(fired) == 1 and fired[0] - started >= 0.05
    assert not deadline.armed


async def test_set_again_it_fires_at_the_later_time_only() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    deadline = Deadline(loop, lambda: fired.append(loop.time()))
    deadline.set(0.05)
    await asyncio.sleep(0.03)
    later = loop.time() + 1
    deadline.set(1)  # the timer armed for the first time sleeps on
    await asyncio.sleep(0.2)
    assert fired == []
    while not fired and loop.time() < later + 5:
        await asyncio.sleep(0.05)
    assert len(fired) == 1 and fired[0] >= later


async def test_set_sooner_than_its_timer_it_fires_at_the_sooner_time() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    deadline = Deadline(loop, lambda: fired.append(loop.time()))
    deadline.set(10)
    deadline.set(0.05)
    await asyncio.sleep(0.2)
    assert len(fired) == 1


async def test_cleared_or_cancelled_it_does_not_fire() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    cleared = Deadline(loop, lambda: fired.append("cleared"))
    cancelled = Deadline(loop, lambda: fired.append("cancelled"))
    cleared.set(0.05)
    cancelled.set(0.05)
    cleared.clear()
    cancelled.cancel()
    assert not cleared.armed and not cancelled.armed
    await asyncio.sleep(0.2)
    assert fired == []
