"""P9 to P12: the registry on PostgreSQL (`--postgres URL`), each figure over SQLite's.

Every figure is taken twice in the same run, alternately (`alternate.py`): once with replicas
on a fresh PostgreSQL database (created for the run, dropped after) and once with the same
number of replicas on one SQLite file. The ratio is PostgreSQL over SQLite, per run, median.

- P9: wrk `per_vm.lua` on one replica (alone on its database);
- P10: the same through two replicas at once (one wrk each, half the connections each); the
  figure is the sum of both;
- P11: wrk `register.lua` on one replica;
- P12: registrations written through replica A at `xr_rate` per second, one SSE watcher on
  replica B; the latency is from A's answer to the event on B's stream. Its ratio is p99 over
  SQLite's p99 (lower is better there).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from ops.bench.alternate import alternate
from ops.bench.context import Context
from ops.bench.http1 import Connection, HttpError, split_url
from ops.bench.load import bench_vm_id, register_fleet, registration_body
from ops.bench.outcome import Outcome, median, percentile, rounded
from ops.bench.scenarios import outcome
from ops.bench.server import Target, start_server
from ops.bench.wrk import WrkResult, run_wrk

NUMBERS = (9, 10, 11, 12)
PG, SQLITE = "postgres", "sqlite"
HEARTBEAT_RATIO = 0.5  # the issue: heartbeats on one PostgreSQL replica >= 0.5 x SQLite
FEED_P99_MS = 100.0


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    one, two, registrations, feed = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (one, two, registrations, feed) if ctx.wants(o.number)]
    if ctx.postgres_url is None:
        return [o.skip("no --postgres URL") for o in chosen]
    if ctx.wrk is None and ctx.wants(9, 10, 11):
        for o in (one, two, registrations):
            o.skip(ctx.wrk_note)
    async with FreshDatabase(ctx.postgres_url, ctx.run_tag) as pg_url:
        dbs = {PG: pg_url, SQLITE: str(ctx.workdir / "replicas.db")}
        replicas: dict[str, list[Target]] = {name: [] for name in dbs}
        try:
            for name, db in dbs.items():  # one at a time, so `finally` stops whatever started
                replicas[name].append(await _replica(ctx, name, db))
            prefix = f"pg-{ctx.run_tag}-"
            ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
            for name, servers in replicas.items():
                ctx.say(f"registering {len(ids):,} VMs on {name} for the heartbeat load")
                await register_fleet(servers[0].url, ids)
            hb_args = [prefix, str(s.heartbeat_vms)]
            if ctx.wrk is not None and ctx.wants(9):
                runs = await _both(ctx, "P9", replicas, "per_vm.lua", lambda _: hb_args, 1)
                _fill(one, runs)
                one.met = one.ratio is not None and one.ratio >= HEARTBEAT_RATIO
            if ctx.wrk is not None and ctx.wants(11):
                tag = f"pgreg-{ctx.run_tag}"
                runs = await _both(
                    ctx, "P11", replicas, "register.lua", lambda n: [f"{tag}-{n}"], 1
                )
                _fill(registrations, runs)
            if ctx.wants(10, 12):
                for name, db in dbs.items():
                    replicas[name].append(await _replica(ctx, name, db))
            if ctx.wrk is not None and ctx.wants(10):
                runs = await _both(ctx, "P10", replicas, "per_vm.lua", lambda _: hb_args, 2)
                _fill(two, runs)
            if ctx.wants(12):
                _fill_feed(feed, await _feed_runs(ctx, replicas))
        finally:
            for servers in replicas.values():
                for server in servers:
                    await server.stop()
    return chosen


async def _replica(ctx: Context, name: str, db: str) -> Target:
    # `serve` reads its options with argparse, where the last `--db` wins: the scratch path
    # only names the server's log file.
    log_name = ctx.workdir / f"{name}-replica.db"
    return await start_server(
        log_name, extra_args=[*ctx.server_args, "--db", db], profile_dir=ctx.profile_dir
    )


class FreshDatabase:
    """A new database on the PostgreSQL server of `--postgres`, dropped (FORCE) on the way out."""

    def __init__(self, server_url: str, tag: str) -> None:
        self.server_url = server_url
        self.name = f"vmreg_bench_{tag}_{uuid.uuid4().hex[:6]}"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.server_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def __aenter__(self) -> str:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{self.name}"))

    async def __aexit__(self, *exc_info: object) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def _both(
    ctx: Context,
    label: str,
    replicas: dict[str, list[Target]],
    script: str,
    script_args: Callable[[int], list[str]],
    through: int,
) -> dict[str, list[WrkResult]]:
    """wrk on the first `through` replicas of each backend at once, alternately; rps summed."""
    s = ctx.settings
    assert ctx.wrk is not None
    wrk = ctx.wrk
    connections = max(1, s.connections // through)

    def side(name: str) -> Callable[[int], Awaitable[WrkResult]]:
        async def one(number: int) -> WrkResult:
            ctx.say(f"{label}: {name}, {through} replica(s), run {number + 1}/{s.runs}")
            results = await asyncio.gather(
                *(
                    run_wrk(
                        wrk,
                        server.url,
                        script=script,
                        script_args=script_args(number),
                        connections=connections,
                        threads=max(1, s.wrk_threads // through),
                        duration_s=s.duration_s,
                    )
                    for server in replicas[name][:through]
                )
            )
            return _summed(results)

        return one

    return await alternate(s.runs, {name: side(name) for name in replicas})


def _summed(results: list[WrkResult]) -> WrkResult:
    """Concurrent wrk runs as one: their requests over the longest duration, worst latencies."""
    errors: dict[str, int] = {}
    for r in results:
        for kind, count in r.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return WrkResult(
        requests=sum(r.requests for r in results),
        duration_s=max(r.duration_s for r in results),
        errors=errors,
        p50_ms=max(r.p50_ms for r in results),
        p90_ms=max(r.p90_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
    )


def _fill(result: Outcome, runs: dict[str, list[WrkResult]]) -> None:
    pg, lite = runs[PG], runs[SQLITE]
    result.figure, result.unit = rounded(median([m.rps for m in pg]), 1), "rps"
    result.p50_ms = rounded(median([m.p50_ms for m in pg]), 2)
    result.p99_ms = rounded(median([m.p99_ms for m in pg]), 2)
    result.reference, result.reference_unit = rounded(median([m.rps for m in lite]), 1), "rps"
    result.ratio = rounded(median([p.rps / q.rps for p, q in zip(pg, lite, strict=True)]))
    result.details = {PG: [m.to_json() for m in pg], SQLITE: [m.to_json() for m in lite]}
    failed = sum(m.failed for m in pg)
    result.note = (
        f"sqlite p50 {median([m.p50_ms for m in lite]):.1f} ms, "
        f"p99 {median([m.p99_ms for m in lite]):.1f} ms"
        + (f"; postgres: {failed} requests failed" if failed else "")
    )


@dataclass
class FeedRun:
    sent: int = 0
    failed: int = 0
    seen: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        ordered = sorted(self.latencies_ms)
        return {
            "sent": self.sent,
            "failed": self.failed,
            "seen": self.seen,
            "rate": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "p50_ms": rounded(percentile(ordered, 0.5), 2),
            "p99_ms": rounded(percentile(ordered, 0.99), 2),
        }


async def _feed_runs(ctx: Context, replicas: dict[str, list[Target]]) -> dict[str, list[FeedRun]]:
    s = ctx.settings

    def side(name: str) -> Callable[[int], Awaitable[FeedRun]]:
        async def one(number: int) -> FeedRun:
            ctx.say(f"P12: {name}, A -> B at {s.xr_rate}/s, run {number + 1}/{s.runs}")
            a, b = replicas[name][0], replicas[name][1]
            return await _feed_once(a.url, b.url, f"xr-{ctx.run_tag}-{name}-{number}-", ctx)

        return one

    return await alternate(s.runs, {name: side(name) for name in replicas})


async def _feed_once(writer: str, watcher: str, prefix: str, ctx: Context) -> FeedRun:
    s = ctx.settings
    planned = int(s.xr_rate * s.fanout_s)
    answered: dict[str, float] = {}
    arrived: dict[str, float] = {}
    result = FeedRun()
    ready = asyncio.Event()

    async def watch() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", watcher + "/registry/stream") as response,
        ):
            ready.set()
            async for line in response.aiter_lines():
                # The id is in every message of the VM: find it without decoding the JSON.
                if line.startswith("data:") and prefix in line and '"vm.registered"' in line:
                    start = line.index(prefix)
                    arrived.setdefault(line[start : line.index('"', start)], time.perf_counter())

    tickets: asyncio.Queue[int | None] = asyncio.Queue()

    async def schedule(started: float) -> None:
        for index in range(planned):
            delay = started + index / s.xr_rate - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            tickets.put_nowait(index)
        for _ in range(16):
            tickets.put_nowait(None)

    async def write() -> None:
        async with Connection(*split_url(writer)) as connection:
            while (index := await tickets.get()) is not None:
                vm_id = bench_vm_id(prefix, index)
                try:
                    response = await connection.request(
                        "POST", "/registry/vms", registration_body(vm_id), timeout=10
                    )
                except (HttpError, OSError, TimeoutError):
                    result.failed += 1
                    continue
                if response.status == 201:
                    answered[vm_id] = time.perf_counter()
                else:
                    result.failed += 1

    watcher_task = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        started = time.perf_counter()
        await asyncio.gather(schedule(started), *(write() for _ in range(16)))
        result.elapsed_s = time.perf_counter() - started
        deadline = time.monotonic() + s.drain_s
        while not answered.keys() <= arrived.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        watcher_task.cancel()
        await asyncio.gather(watcher_task, return_exceptions=True)
    result.sent = len(answered)
    result.seen = len(answered.keys() & arrived.keys())
    result.latencies_ms = [
        max(0.0, (arrived[i] - answered[i]) * 1000) for i in answered if i in arrived
    ]
    return result


def _fill_feed(result: Outcome, runs: dict[str, list[FeedRun]]) -> None:
    pg, lite = runs[PG], runs[SQLITE]
    pg_json, lite_json = [r.to_json() for r in pg], [r.to_json() for r in lite]
    result.p50_ms = rounded(median([float(str(r["p50_ms"])) for r in pg_json]), 2)
    result.p99_ms = rounded(median([float(str(r["p99_ms"])) for r in pg_json]), 2)
    result.figure, result.unit = result.p99_ms, "ms p99"
    lite_p99 = median([float(str(r["p99_ms"])) for r in lite_json])
    result.reference, result.reference_unit = rounded(lite_p99, 2), "ms p99"
    result.ratio = rounded(
        median(
            [
                float(str(p["p99_ms"])) / max(float(str(q["p99_ms"])), 0.01)
                for p, q in zip(pg_json, lite_json, strict=True)
            ]
        )
    )
    result.details = {PG: pg_json, SQLITE: lite_json}
    missing = sum(r.sent - r.seen for r in pg)
    rate = median([float(str(r["rate"])) for r in pg_json])
    result.note = (
        f"postgres: {sum(r.sent for r in pg)} written at {rate:.0f}/s, {missing} not seen on B, "
        f"{sum(r.failed for r in pg)} failed; ratio is p99 over sqlite's (lower is better)"
    )
    result.met = missing == 0 and result.p99_ms <= FEED_P99_MS
