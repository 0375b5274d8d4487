"""The probe process (see `probe_process.py`): `python -m vm_registry.service.probe_worker CONFIG`.

CONFIG is `[allow-list entries, timeout, concurrency]` as JSON. Reads length-prefixed messages
(`probe_frames.py`) from stdin: `["round", round, spread, count]` starts a round, whose targets
follow in `["targets", round, [[id, address, port, path], ...]]` pieces; a round starts probing
with its first piece, spacing its `count` probes over `spread` seconds. Answers
`[[id, result, detail], ...]` frames on stdout as probes finish (gathered for `FLUSH_EVERY`
seconds, so the server wakes a few times a second, not once per probe), and exits when stdin
closes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson

from vm_registry.service.allow_list import AllowList
from vm_registry.service.probe import Prober, ProbeResult, Target, run_round
from vm_registry.service.probe_frames import frame, read_frame

FLUSH_EVERY = 0.05  # seconds

Pieces = asyncio.Queue[list[Target]]


async def _targets(pieces: Pieces, count: int) -> AsyncGenerator[Target, None]:
    given = 0
    while given < count:
        for target in await pieces.get():
            yield target
            given += 1


def _forget(rounds: dict[int, Any], round_id: int) -> Callable[[object], None]:
    return lambda _: rounds.pop(round_id, None)


async def serve(config: str) -> None:
    entries, timeout, concurrency = orjson.loads(config)
    prober = Prober(AllowList.parse(entries), float(timeout), int(concurrency))
    slots = asyncio.Semaphore(int(concurrency))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    ready: list[list[Any]] = []

    def emit(found: tuple[Target, ProbeResult]) -> None:
        target, verdict = found
        ready.append([int(target.vm_id), verdict.result, verdict.detail])

    def flush() -> None:
        if ready:
            out.write(frame(ready))
            out.flush()
            ready.clear()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            flush()

    rounds: dict[int, tuple[asyncio.Task[None], Pieces]] = {}
    flushing = asyncio.create_task(flusher())
    try:
        while (message := await read_frame(reader)) is not None:
            if message[0] == "round":
                _, round_id, spread, count = message
                pieces: Pieces = asyncio.Queue()
                task = asyncio.create_task(
                    run_round(prober.probe, _targets(pieces, count), count, spread, slots, emit)
                )
                rounds[round_id] = (task, pieces)
                task.add_done_callback(_forget(rounds, round_id))
            elif message[0] == "targets" and message[1] in rounds:
                # The probe's id rides in the target's vm_id: the worker knows no VMs.
                rounds[message[1]][1].put_nowait(
                    [
                        Target(str(i), "", address, port, path)
                        for i, address, port, path in message[2]
                    ]
                )
    finally:
        tasks = [task for task, _ in rounds.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        flushing.cancel()
        flush()
        await prober.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
