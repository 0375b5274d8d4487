"""Scenarios 7 and 8: SSE fan-out, wide (many subscribers) and deep (many events).

Subscribers live in a separate process (`ops.bench.subscribers`), the event source is the
harness itself sending paced heartbeats. Subscribers resume from the revision read just before
they connect (`X-Registry-Revision`), so "every event delivered" is exact: each must see every
seq from that revision to the one read after the last write, once and in order. A server that
sends no revision header is measured by counts instead.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.load import bench_vm_id, publish_heartbeats, register_fleet
from ops.bench.outcome import FAILED, Outcome, median, rounded
from ops.bench.scenarios import outcome
from ops.bench.server import Target, connect_url, start_server

NUMBERS = (7, 8)
RATE_TOLERANCE = 0.95  # of the planned event rate the publisher must reach
ROOT = Path(__file__).resolve().parents[3]


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    wide, deep = outcome(7, s), outcome(8, s)
    plans = [
        (wide, s.wide_subscribers, s.wide_rate, 150.0),
        (deep, s.deep_subscribers, s.deep_rate, 50.0),
    ]
    plans = [plan for plan in plans if ctx.wants(plan[0].number)]
    if ctx.url is None:
        cap = ctx.subscriber_cap_args(max(count for _, count, _, _ in plans))
        target = await start_server(
            ctx.workdir / "fanout.db", extra_args=cap, profile_dir=ctx.profile_dir
        )
    else:
        target = await connect_url(ctx.url)
    try:
        prefix = f"sse-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
        await register_fleet(target.url, ids)
        for result, subscribers, rate, limit_ms in plans:
            runs = []
            for number in range(s.runs):
                ctx.say(f"scenario {result.number}: run {number + 1}/{s.runs}")
                runs.append(await _one_run(ctx, target, ids, subscribers, rate))
            _fill(result, runs, subscribers, rate, limit_ms)
    finally:
        await target.stop()
    return [plan[0] for plan in plans]


def _fill(
    result: Outcome,
    runs: list[dict[str, Any]],
    subscribers: int,
    planned_rate: int,
    limit_ms: float,
) -> None:
    result.details["runs"] = runs
    problems = [run["problem"] for run in runs if run.get("problem")]
    if problems:
        result.status, result.note = FAILED, problems[0]
        return
    result.p50_ms = rounded(median([run["latency_ms"]["p50"] for run in runs]), 1)
    result.p99_ms = rounded(median([run["latency_ms"]["p99"] for run in runs]), 1)
    result.figure, result.unit = result.p99_ms, "ms p99"
    lost = sum(run["lost"] + run["duplicates"] + run["out_of_order"] for run in runs)
    connected = min(run["subscribers"] for run in runs)
    rates = [run["publisher"]["rate"] for run in runs]
    result.note = f"{lost} lost/duplicated/reordered; publisher {median(rates):.0f} events/s"
    if connected < subscribers:
        result.note += f"; only {connected} of {subscribers} subscribers connected"
    # A server that cannot absorb the planned write rate has not run the scenario as specified.
    fast_enough = median(rates) >= RATE_TOLERANCE * planned_rate
    if not fast_enough:
        result.note += f" (planned {planned_rate:,}: the server absorbed fewer writes)"
    result.met = (
        lost == 0 and connected == subscribers and result.p99_ms <= limit_ms and fast_enough
    )


async def _revision(target: Target) -> int | None:
    response = await fetch(target.url, "/registry/discover/infra")
    raw = response.headers.get("x-registry-revision")
    return int(raw) if raw is not None and raw.isdigit() else None


def _message(line: bytes, log: Path) -> dict[str, Any]:
    if not line:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError("the subscriber process ended early: " + " | ".join(tail))
    message: dict[str, Any] = orjson.loads(line)
    return message


async def _one_run(
    ctx: Context, target: Target, ids: list[str], subscribers: int, rate: int
) -> dict[str, Any]:
    s = ctx.settings
    host, port = target.host_port
    head = await _revision(target)
    path = "/registry/stream" if head is None else f"/registry/stream?after={head}"
    log = ctx.workdir / "subscribers.log"
    with log.open("ab") as errors:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ops.bench.subscribers", "--host", host, "--port", str(port),
            "--path", path, "--count", str(subscribers),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT,
        )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = _message(await asyncio.wait_for(child.stdout.readline(), 120), log)
        if ready["ready"] == 0:
            return {"problem": f"no subscriber could connect: {ready['problems']}"}
        published = await publish_heartbeats(
            target.url, ids, rate=rate, duration_s=s.fanout_s, connections=64
        )
        end = await _revision(target)
        expect = end - head if end is not None and head is not None else published.ok
        first = None if head is None else head + 1
        command = {"expect": expect, "first": first, "drain_s": s.drain_s}
        child.stdin.write(orjson.dumps(command) + b"\n")
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), s.drain_s + 120)
        report: dict[str, Any] = _message(line, log)["result"]
    finally:
        if child.returncode is None:
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()
    report["connect_problems"] = ready["problems"]
    report["publisher"] = {
        "planned": published.planned,
        "ok": published.ok,
        "failed": published.failed,
        "rate": round(published.rate, 1),
    }
    if published.failed:
        report["problem"] = f"{published.failed} heartbeats failed: {published.statuses}"
    return report
