"""The probe process (see `probe_process.py`): `python -m vm_registry.service.probe_worker CONFIG`.

CONFIG is `[allow-list entries, timeout, concurrency]` as JSON. Reads `[id, address, port, path]`
lines from stdin, answers `[id, result, detail]` lines on stdout as probes finish, and exits when
stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from vm_registry.service.allow_list import AllowList
from vm_registry.service.probe import Prober, Target


async def serve(config: str) -> None:
    entries, timeout, concurrency = orjson.loads(config)
    prober = Prober(AllowList.parse(entries), float(timeout), int(concurrency))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    slots = asyncio.Semaphore(int(concurrency))
    running: set[asyncio.Task[None]] = set()

    async def one(probe_id: int, address: str, port: int, path: str) -> None:
        async with slots:
            found = await prober.probe(Target("", "", address, port, path))
        out.write(orjson.dumps([probe_id, found.result, found.detail]) + b"\n")
        out.flush()

    try:
        async for line in reader:
            task = asyncio.create_task(one(*orjson.loads(line)))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await prober.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
