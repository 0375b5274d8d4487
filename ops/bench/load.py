"""Client load the harness generates itself, on raw keep-alive connections.

`register_fleet` sets up the VMs the write and fan-out scenarios heartbeat. `publish_heartbeats`
is the fan-out scenarios' event source: real heartbeats through the real write path, paced to
a fixed rate. Pacing is by schedule, not by sleeping between requests, so a slow response does
not lower the rate; a late request is sent at once to catch up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ops.bench.http1 import Connection, HttpError, split_url


def bench_vm_id(prefix: str, index: int) -> str:
    # Must match per_vm.lua's `prefix .. string.format("%06d", index)`.
    return f"{prefix}{index:06d}"


def registration_body(vm_id: str, role: str = "worker") -> dict[str, object]:
    return {
        "id": vm_id,
        "name": f"bench-{vm_id}",
        "role": role,
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "bench",
        "services": [{"name": "pi-rpc", "port": 3001}],
        "metadata": {"task": "bench"},
    }


async def register_fleet(url: str, ids: Sequence[str], connections: int = 16) -> None:
    await register_bodies(url, [registration_body(vm_id) for vm_id in ids], connections)


async def register_bodies(
    url: str, bodies: Sequence[dict[str, object]], connections: int = 16
) -> None:
    host, port = split_url(url)
    pending = list(reversed(bodies))

    async def worker() -> None:
        async with Connection(host, port) as connection:
            while pending:
                body = pending.pop()
                response = await connection.request("POST", "/registry/vms", body)
                if response.status != 201:
                    raise HttpError(
                        f"registering {body['id']}: {response.status} {response.body!r}"
                    )

    await asyncio.gather(*(worker() for _ in range(min(connections, len(bodies)))))


@dataclass
class Published:
    planned: int
    ok: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0


async def publish_heartbeats(
    url: str, ids: Sequence[str], *, rate: float, duration_s: float, connections: int = 16
) -> Published:
    host, port = split_url(url)
    result = Published(planned=int(rate * duration_s))
    tickets: asyncio.Queue[int | None] = asyncio.Queue()
    started = time.perf_counter()

    async def schedule() -> None:
        for index in range(result.planned):
            delay = started + index / rate - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            tickets.put_nowait(index)
        for _ in range(connections):
            tickets.put_nowait(None)

    async def worker() -> None:
        async with Connection(host, port) as connection:
            while (index := await tickets.get()) is not None:
                path = f"/registry/vms/{ids[index % len(ids)]}/heartbeat"
                sent = time.perf_counter()
                try:
                    response = await connection.request("POST", path, timeout=10)
                except (HttpError, OSError, TimeoutError):
                    result.failed += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
                if response.status == 200:
                    result.ok += 1
                else:
                    result.failed += 1

    await asyncio.gather(schedule(), *(worker() for _ in range(connections)))
    result.elapsed_s = time.perf_counter() - started
    return result
