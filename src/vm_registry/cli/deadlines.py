"""Timeouts that are set and cleared on every request and almost never fire.

Each request on a connection sets and clears a head timeout, a kept-alive connection an idle
one, and a request with a body a body timeout. As loop timers each would cost a `call_later`
and a `cancel`, about 3 us together (uvloop, measured): on a `/health` that costs about 40 us
in all, two of them are a seventh of the request. A `Deadline` is a float instead: `set` and
`clear` only write it, and one loop timer per deadline wakes at the earliest time it was set
for, then either fires or sleeps again until the deadline set since. So a deadline fires no
earlier than it was set for, and no later than it would have as a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    __slots__ = ("_at", "_fire", "_loop", "_timer", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._at: float | None = None  # when it fires, if set
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def armed(self) -> bool:
        return self._at is not None

    def set(self, seconds: float) -> None:
        """Fire `seconds` from now, unless cleared or set again before."""
        at = self._loop.time() + seconds
        self._at = at
        timer = self._timer
        if timer is not None and self._timer_at <= at:
            return  # the timer wakes first, and sleeps on until `at`
        if timer is not None:
            timer.cancel()
        self._wake_at(at)

    def clear(self) -> None:
        self._at = None  # the timer, if any, finds nothing to fire and lapses

    def cancel(self) -> None:
        """Cleared for good: the connection is gone, so its timer goes too."""
        self._at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake_at(self, at: float) -> None:
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._woken)

    def _woken(self) -> None:
        self._timer = None
        at = self._at
        if at is None:
            return
        if self._loop.time() < at:  # set again since the timer was armed
            self._wake_at(at)
            return
        self._at = None
        self._fire()
