"""The PostgreSQL follower's wait stops when it is told to, whatever else happens at once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from vm_registry.persistence.postgres.following import Listener


async def _unreachable() -> asyncpg.Connection:
    raise OSError("no server here")


@pytest.mark.parametrize("turns", range(6))
async def test_a_stop_that_meets_a_wake_up_still_stops_the_wait(turns: int) -> None:
    # A shutdown cancels the follower while a notification may be waking it. A wait that was
    # still running when cancelled (after the wake-up went `turns` steps through the loop) must
    # end cancelled: one that returned normally instead would loop on, and the server would
    # never exit.
    listener = Listener(_unreachable, "vm_registry_log", "test")
    waiting = asyncio.create_task(listener.wait())
    await asyncio.sleep(0.01)  # deaf (nothing to connect to): waiting out a poll interval
    listener._notified()
    for _ in range(turns):
        await asyncio.sleep(0)
    if not waiting.cancel():
        return  # it had already returned from the wake-up: nothing to stop
    with pytest.raises(asyncio.CancelledError):
        await waiting
