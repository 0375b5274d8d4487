"""One way to wait for something a test does not control: poll a check until it holds, within
a bounded time, and fail with what was awaited. Where the test controls both sides it waits
on an event instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
INTERVAL = 0.02


def eventually(
    check: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "the condition"
) -> T:
    """Call `check` until it returns something truthy, and return that; fail after `timeout`
    seconds. Exceptions from `check` propagate: a check that may fail meanwhile catches its
    own."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(INTERVAL)


async def eventually_async(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "the condition",
) -> T:
    """`eventually` for the event loop: `check` may be sync or async."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        await asyncio.sleep(INTERVAL)
