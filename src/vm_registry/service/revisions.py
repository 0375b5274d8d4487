"""Waiting until the projection has folded a given revision: read-your-writes across replicas.

A client that wrote through one replica and reads through another passes the revision of its
write (`?minRevision=N` or `X-Registry-Min-Revision`). The replica answers once it has folded N,
or gives up after a bound (503 with `Retry-After`) rather than hold the request for ever.

Waiters sit in a heap by revision, so each advance of the projection touches only the waiters it
satisfies, however many wait for later revisions.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class RevisionGate:
    def __init__(self, revision: int) -> None:
        self.revision = revision
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties in the heap never compare futures

    def advance(self, revision: int) -> None:
        """The projection has folded everything up to `revision`."""
        if revision <= self.revision:
            return
        self.revision = revision
        waiters = self._waiters
        while waiters and waiters[0][0] <= revision:
            _, _, waiter = heapq.heappop(waiters)
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """True once `revision` is folded; False if `timeout` seconds pass first."""
        if revision <= self.revision:
            return True
        if timeout <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = (revision, next(self._order), waiter)
        heapq.heappush(self._waiters, item)
        timer = asyncio.get_running_loop().call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if revision > self.revision:
                # Timed out or cancelled: a revision far ahead (or made up) must not stay in
                # the heap until the projection gets there.
                self._waiters.remove(item)
                heapq.heapify(self._waiters)
        return revision <= self.revision

    @property
    def waiting(self) -> int:
        return len(self._waiters)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
