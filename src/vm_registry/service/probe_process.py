"""Probes run in a child process, so that they never take the API's CPU or event loop.

An HTTP request through httpx costs about a millisecond of CPU. A fleet of 500 VMs with two
checked services probed every 5 s is 200 requests a second: on the API's event loop that was
measured (`python -m ops.bench.health_storm`) to raise the median API call from under 1 ms to
tens of milliseconds, each answer waiting behind probe callbacks; on a thread of its own it
still cost the API thread its turn at the interpreter lock, several milliseconds at a time. In
a process of its own it costs the API's loop one short line in and one out per probe.

The protocol is JSON lines over the child's stdin and stdout: `[id, address, port, path]` in,
`[id, result, detail]` out, answered in any order. The child owns the httpx client, the
allow-list and the concurrency bound; it exits when its stdin closes, so it never outlives the
server. If it dies, the probes in flight fail (the checker skips them: they say nothing about
the services) and the next probe starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Sequence

import orjson

from vm_registry.service.probe import ProbeResult, Target

log = logging.getLogger("vm_registry.health")


class ProbeWorkerGone(Exception):
    """The child process ended with this probe unanswered."""


class ProbeProcess:
    def __init__(self, allow: Sequence[str], timeout: float, concurrency: int) -> None:
        self.allow = tuple(allow)
        self.timeout = timeout
        self.concurrency = concurrency
        self._child: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[ProbeResult]] = {}
        self._ids = itertools.count(1)
        self._starting = asyncio.Lock()

    def start(self) -> None:
        """Nothing yet: the child starts with the first probe (on the server's loop)."""

    async def _ensure(self) -> asyncio.subprocess.Process:
        async with self._starting:
            child = self._child
            # The reader ends at the child's end of output, which can come before the exit
            # status is collected: either means the child is gone.
            reading = self._reader is not None and not self._reader.done()
            if child is not None and child.returncode is None and reading:
                return child
            if child is not None:
                if child.returncode is None:
                    child.kill()
                await child.wait()
            config = orjson.dumps([list(self.allow), self.timeout, self.concurrency]).decode()
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "vm_registry.service.probe_worker", config,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            self._child = child
            self._reader = asyncio.create_task(self._read(child), name="vm-registry-probe-reader")
            return child

    async def probe(self, target: Target) -> ProbeResult:
        child = await self._ensure()
        assert child.stdin is not None
        probe_id = next(self._ids)
        answer: asyncio.Future[ProbeResult] = asyncio.get_running_loop().create_future()
        self._pending[probe_id] = answer
        line = orjson.dumps([probe_id, target.address, target.port, target.path])
        try:
            child.stdin.write(line + b"\n")
            # The child enforces the timeout; this bound only guards against a stuck child.
            return await asyncio.wait_for(answer, self.timeout + 30)
        finally:
            self._pending.pop(probe_id, None)

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        try:
            async for line in child.stdout:
                probe_id, result, detail = orjson.loads(line)
                answer = self._pending.get(probe_id)
                if answer is not None and not answer.done():
                    answer.set_result(ProbeResult(result, detail))
        finally:
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(ProbeWorkerGone("the probe process ended"))

    async def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 5)
        except TimeoutError:
            child.kill()
            await child.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
