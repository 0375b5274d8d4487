"""Probes run in a child process, so that they never take the API's CPU or event loop.

An HTTP request through httpx costs about a millisecond of CPU. A fleet of 500 VMs with two
checked services probed every 5 s is 200 requests a second: on the API's event loop that was
measured (`python -m ops.bench.health_storm`) to raise the median API call from under 1 ms to
tens of milliseconds, each answer waiting behind probe callbacks. In a process of its own, the
API's loop only hands rounds over and reads the verdicts back.

The protocol is length-prefixed JSON messages over the child's stdin and stdout
(`probe_frames.py`: no line limit, so no entry the API accepts can stop it). A round goes in as
`["round", round, spread, count]` followed by `["targets", round, [[id, address, port, path],
...]]` pieces of at most `PIECE` targets; verdicts come out as `[[id, result, detail], ...]`
batches as probes finish (in any order). The child owns the httpx client, the allow-list, the
spacing and the concurrency bound; it exits when its stdin closes, so it never outlives the
server. If it dies, or stops answering, the round ends with the probes it answered (the others
say nothing about their services) by raising `ProbeFailure`, which the checker reports in
`/health` and `/metrics`, and the next round starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import AsyncGenerator, Sequence

import orjson

from vm_registry.service.probe import ProbeFailure, ProbeResult, Target
from vm_registry.service.probe_frames import PIECE, frame, read_frame

log = logging.getLogger("vm_registry.health")

Verdict = tuple[int, str, str]  # id, result, detail


class ProbeProcess:
    def __init__(self, allow: Sequence[str], timeout: float, concurrency: int) -> None:
        self.allow = tuple(allow)
        self.timeout = timeout
        self.concurrency = concurrency
        self._child: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ended: str | None = None  # why the current child's output ended, once it has
        # The queue of the round each unanswered probe belongs to.
        self._pending: dict[int, asyncio.Queue[Verdict | None]] = {}
        self._ids = itertools.count(1)
        self._rounds = itertools.count(1)

    def start(self) -> None:
        """Nothing yet: the child starts with the first round (on the server's loop)."""

    async def _ensure(self) -> asyncio.subprocess.Process:
        child = self._child
        # The reader ends at the child's end of output, which can come before its exit status
        # is collected: either means the child is gone.
        reading = self._reader is not None and not self._reader.done()
        if child is not None and child.returncode is None and reading:
            return child
        await self._end_child()
        config = orjson.dumps([list(self.allow), self.timeout, self.concurrency]).decode()
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "vm_registry.service.probe_worker", config,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as error:
            raise ProbeFailure(f"the probe process could not start: {error}") from error
        self._child = child
        self._ended = None
        self._reader = asyncio.create_task(self._read(child), name="vm-registry-probe-reader")
        return child

    async def probe_round(
        self, targets: Sequence[Target], spread: float
    ) -> AsyncGenerator[tuple[Target, ProbeResult], None]:
        if not targets:
            return
        child = await self._ensure()
        verdicts: asyncio.Queue[Verdict | None] = asyncio.Queue()
        by_id = {next(self._ids): target for target in targets}
        for probe_id in by_id:
            self._pending[probe_id] = verdicts
        # The child bounds every probe by the timeout; this only guards against a stuck child.
        patience = spread + self.timeout + 30
        try:
            await self._hand_over(child, by_id, spread)
            for _ in range(len(by_id)):
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                    async with asyncio.timeout(patience):
                        verdict = await verdicts.get()
                except TimeoutError:
                    await self._end_child()
                    raise ProbeFailure(
                        f"the probe process gave no verdict for {patience:g} s; it was ended"
                    ) from None
                if verdict is None:
                    raise ProbeFailure(f"the probe process ended mid-round ({self._ended})")
                probe_id, result, detail = verdict
                yield by_id[probe_id], ProbeResult(result, detail)
        finally:
            for probe_id in by_id:
                self._pending.pop(probe_id, None)

    async def _hand_over(
        self, child: asyncio.subprocess.Process, by_id: dict[int, Target], spread: float
    ) -> None:
        """Send the round in pieces, waiting for the pipe between them: the API's loop never
        encodes or buffers more than one piece at a time, whatever the fleet's size."""
        assert child.stdin is not None
        items = [[i, t.address, t.port, t.path] for i, t in by_id.items()]
        round_id = next(self._rounds)
        try:
            child.stdin.write(frame(["round", round_id, spread, len(items)]))
            for start in range(0, len(items), PIECE):
                child.stdin.write(frame(["targets", round_id, items[start : start + PIECE]]))
                await child.stdin.drain()
        except (ConnectionError, RuntimeError) as error:  # a closed pipe: the child is gone
            raise ProbeFailure(
                f"the probe process ended before it had the round: {error}"
            ) from None

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        try:
            while (batch := await read_frame(child.stdout)) is not None:
                for probe_id, result, detail in batch:
                    verdicts = self._pending.get(probe_id)
                    if verdicts is not None:
                        verdicts.put_nowait((probe_id, result, detail))
            self._ended = "its output ended"
        except Exception as error:
            self._ended = f"its output could not be read: {error!r}"
            log.warning("the probe process's output could not be read: %r", error)
        finally:
            for verdicts in set(self._pending.values()):
                verdicts.put_nowait(None)

    async def _end_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            if child.returncode is None:
                child.kill()
            await child.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def rest(self) -> None:
        """Not the leader (any more): end the child; the next round starts a new one."""
        await self.close()

    async def close(self) -> None:
        child = self._child
        if child is not None and child.stdin is not None:
            child.stdin.close()  # the child's signal to finish
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 5)
        await self._end_child()
