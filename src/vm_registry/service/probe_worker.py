"""The probe process (see `probe_process.py`): `python -m vm_registry.service.probe_worker CONFIG`.

CONFIG is `[allow-list entries, timeout, concurrency]` as JSON. Reads rounds
`[spread, [[id, address, port, path], ...]]` from stdin, answers `[[id, result, detail], ...]`
lines on stdout as probes finish (gathered for `FLUSH_EVERY` seconds, so the server wakes a few
times a second, not once per probe), and exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from vm_registry.service.allow_list import AllowList
from vm_registry.service.probe import Prober, ProbeResult, Target, run_round

FLUSH_EVERY = 0.05  # seconds


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
            out.write(orjson.dumps(ready) + b"\n")
            out.flush()
            ready.clear()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            flush()

    rounds: set[asyncio.Task[None]] = set()
    flushing = asyncio.create_task(flusher())
    try:
        async for line in reader:
            spread, items = orjson.loads(line)
            # The probe's id rides in the target's vm_id: the worker knows no VMs.
            targets = [Target(str(i), "", address, port, path) for i, address, port, path in items]
            task = asyncio.create_task(run_round(prober.probe, targets, spread, slots, emit))
            rounds.add(task)
            task.add_done_callback(rounds.discard)
    finally:
        for task in rounds:
            task.cancel()
        await asyncio.gather(*rounds, return_exceptions=True)
        flushing.cancel()
        flush()
        await prober.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
