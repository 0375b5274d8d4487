"""The writer's CPU per heartbeat, in process: P2's load (1,000 VMs, 64 in flight) without HTTP.

It builds the real `Runtime` (the server's own, with its metrics observer) on a SQLite file in
a scratch directory, registers the fleet, and has 64 tasks send heartbeats through
`runtime.execute`, each with a fresh actor like a request's. What it reports is the process's
CPU time (every thread: aiosqlite's commits run in one of their own) per heartbeat, best and
median of `--runs`, and the wall-clock rate. Heartbeats are answered only once committed, so
this is the cost of the whole durable path: queue, decide, append, commit, fold, publish.

    .venv/bin/python -m ops.bench.writer_cpu                    # 5 runs of 20,000
    .venv/bin/python -m ops.bench.writer_cpu --profile out.prof  # cProfile, loop thread

The machine is usually shared: compare two trees alternately, and note the load average
(printed with each result).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from vm_registry.domain import commands as cmd
from vm_registry.service.runtime import Runtime
from vm_registry.settings import Settings
from vm_registry.telemetry.writer_metrics import WriterMetrics

FLEET = 1_000
CONCURRENCY = 64


async def _register(runtime: Runtime, fleet: int) -> list[str]:
    ids = [f"hb-{n:05d}" for n in range(fleet)]
    for vm_id in ids:
        data = {"name": vm_id, "role": "worker", "address": f"{vm_id}.vm.vers.sh"}
        await runtime.execute(cmd.Register(vm_id, {**data, "registeredBy": "bench"}), {})
    return ids


async def _beat(runtime: Runtime, ids: list[str], count: int, concurrency: int) -> None:
    next_index = 0

    async def one_connection() -> None:
        nonlocal next_index
        while next_index < count:
            vm_id = ids[next_index % len(ids)]
            next_index += 1
            # A fresh actor per request, as the HTTP edge builds it.
            actor = {"ip": "127.0.0.1", "userAgent": "wrk"}
            await runtime.execute(cmd.Heartbeat(vm_id), actor)

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))


async def _measure(args: argparse.Namespace, scratch: Path) -> list[tuple[float, float]]:
    runtime = Runtime(Settings(db=str(scratch / "registry.db"), snapshot_every=args.snapshot_every))
    runtime.watch_writer(WriterMetrics(CollectorRegistry()))
    results = []
    async with runtime:
        ids = await _register(runtime, args.fleet)
        await _beat(runtime, ids, 2_000, args.concurrency)  # warm up
        for _ in range(args.runs):
            profiler = cProfile.Profile() if args.profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            await _beat(runtime, ids, args.count, args.concurrency)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            results.append((cpu / args.count * 1e6, args.count / wall))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="heartbeats per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fleet", type=int, default=FLEET)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--snapshot-every", type=int, default=Settings().snapshot_every)
    parser.add_argument("--profile", help="write a cProfile of the runs to this file")
    parser.add_argument("--no-uvloop", action="store_true", help="the default asyncio loop")
    args = parser.parse_args()
    if args.profile:
        args.runs = 1
    with tempfile.TemporaryDirectory(prefix="writer-cpu-") as scratch:
        coroutine = _measure(args, Path(scratch))
        if args.no_uvloop:
            results = asyncio.run(coroutine)
        else:
            import uvloop

            results = uvloop.run(coroutine)
    per_beat = [us for us, _ in results]
    rates = [rate for _, rate in results]
    print(
        f"cpu us/heartbeat: best {min(per_beat):.1f}, median {statistics.median(per_beat):.1f} "
        f"({', '.join(f'{us:.1f}' for us in per_beat)}); "
        f"heartbeats/s best {max(rates):,.0f}; load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
