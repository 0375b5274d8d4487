"""P8: filtered fan-out. Many watchers, each on one VM (`?vm=`), and events spread over them.

Watchers live in a separate process (`ops.bench.subscribers`); the event source is the harness
sending paced heartbeats, round-robin over the watched VMs. Every watcher resumes from the
revision read just before it connects, so "every frame delivered" is exact: after the run the
harness reads from the log which seqs concern which VM, and each watcher must have received
exactly those, once and in order.

"CPU per event does not grow with non-matching watchers" is measured with a second
configuration, `few_watchers` watchers with the events spread over their VMs only: the
server's CPU time (user + system, from /proc) over the publishing and draining, divided by
the events, for both; the figure is the ratio, many over few. Idle connections cost the
server something whether or not anything happens (each stream's keep-alive ping), so the CPU
the same watchers take over a quiet window (`idle_s`, no events) is measured first, and that
rate times the run's length is taken off: what is left is what the events cost. Both the raw
and the net figures are in the results. Our server only: the peer has no change feed.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.load import bench_vm_id, publish_heartbeats, register_fleet
from ops.bench.outcome import FAILED, Outcome, median, rounded
from ops.bench.scenarios import outcome
from ops.bench.server import Target, start_server

NUMBERS = (8,)
RATE_TOLERANCE = 0.95  # of the planned event rate the publisher must reach
P99_LIMIT_MS = 100.0
CPU_GROWTH_LIMIT = 1.25  # many watchers over few: "does not grow", with room for noise
ROOT = Path(__file__).resolve().parents[3]


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    result = outcome(8, s)
    if ctx.url is not None:
        return [result.skip("needs the harness's own server (its log and CPU), not --url")]
    target = await start_server(
        ctx.workdir / "fanout.db",
        extra_args=ctx.subscriber_cap_args(s.watchers),
        profile_dir=ctx.profile_dir,
    )
    try:
        prefix = f"w-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.watchers)]
        ctx.say(f"registering {len(ids):,} watched VMs")
        await register_fleet(target.url, ids)
        many, few = [], []
        for number in range(s.runs):
            ctx.say(f"P8: run {number + 1}/{s.runs}, {s.watchers:,} watchers")
            many.append(await one_run(ctx, target, prefix, ids))
            ctx.say(f"P8: run {number + 1}/{s.runs}, {s.few_watchers:,} watchers")
            few.append(await one_run(ctx, target, prefix, ids[: s.few_watchers]))
        fill(result, many, few, s.watch_rate)
    finally:
        await target.stop()
    return [result]


def fill(result: Outcome, many: list[dict[str, Any]], few: list[dict[str, Any]], rate: int) -> None:
    result.details["runs"] = many
    result.details["few_watchers_runs"] = few
    problems = [run["problem"] for run in many + few if run.get("problem")]
    if problems:
        result.status, result.note = FAILED, problems[0]
        return
    result.p50_ms = rounded(median([run["latency_ms"]["p50"] for run in many]), 1)
    result.p99_ms = rounded(median([run["latency_ms"]["p99"] for run in many]), 1)
    growth = [
        m["server_cpu_us_per_event"] / f["server_cpu_us_per_event"]
        for m, f in zip(many, few, strict=True)
        if f["server_cpu_us_per_event"] > 0
    ]
    result.figure, result.unit = rounded(median(growth), 2), "x CPU/event"
    many_cpu = median([run["server_cpu_us_per_event"] for run in many])
    few_cpu = median([run["server_cpu_us_per_event"] for run in few])
    lost = sum(run["lost"] + run["duplicates"] + run["out_of_order"] for run in many)
    connected = min(run["subscribers"] for run in many)
    wanted = many[0]["watchers"]
    rates = [run["publisher"]["rate"] for run in many]
    many_raw = median([run["server_cpu_us_per_event_raw"] for run in many])
    few_raw = median([run["server_cpu_us_per_event_raw"] for run in few])
    result.note = (
        f"{lost} lost/duplicated/reordered; publisher {median(rates):.0f} events/s; server CPU "
        f"{many_cpu:.0f} us/event with {wanted:,} watchers, {few_cpu:.0f} with "
        f"{few[0]['watchers']:,} ({many_raw:.0f} and {few_raw:.0f} before taking off what "
        "the idle watchers cost)"
    )
    if connected < wanted:
        result.note += f"; only {connected} of {wanted} watchers connected"
    fast_enough = median(rates) >= RATE_TOLERANCE * rate
    if not fast_enough:
        result.note += f" (planned {rate:,}: the server absorbed fewer writes)"
    result.met = (
        lost == 0
        and connected == wanted
        and result.p99_ms <= P99_LIMIT_MS
        and fast_enough
        and result.figure <= CPU_GROWTH_LIMIT
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seqs_by_vm(db: Path, after: int, upto: int) -> dict[str, list[int]]:
    """Which seqs concern which VM, read from the server's log."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT e.seq, v.name FROM events e JOIN vms v ON v.id = e.vm "
            "WHERE e.seq > ? AND e.seq <= ? ORDER BY e.seq",
            (after, upto),
        ).fetchall()
    finally:
        connection.close()
    found: dict[str, list[int]] = {}
    for seq, vm_id in rows:
        found.setdefault(vm_id, []).append(seq)
    return found


def _message(line: bytes, log: Path) -> dict[str, Any]:
    if not line:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError("the subscriber process ended early: " + " | ".join(tail))
    message: dict[str, Any] = orjson.loads(line)
    return message


async def _revision(target: Target) -> int:
    response = await fetch(target.url, "/registry/discover/infra")
    return int(response.headers["x-registry-revision"])


async def one_run(
    ctx: Context, target: Target, prefix: str, ids: list[str], selector_key: str | None = None
) -> dict[str, Any]:
    s = ctx.settings
    assert target.process is not None and target.db is not None
    host, port = target.host_port
    head = await _revision(target)
    log = ctx.workdir / "subscribers.log"
    selector_args = () if selector_key is None else ("--selector-key", selector_key)
    with log.open("ab") as errors:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ops.bench.subscribers", "--host", host, "--port", str(port),
            "--path", f"/registry/stream?after={head}", "--count", str(len(ids)),
            "--vm-prefix", prefix, *selector_args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT,
        )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = _message(await asyncio.wait_for(child.stdout.readline(), 300), log)
        if ready["ready"] == 0:
            return {"problem": f"no watcher could connect: {ready['problems']}"}
        await asyncio.sleep(0.5)  # let the last connections settle into waiting
        idle_from, idle_started = _cpu_seconds(target.process.pid), time.perf_counter()
        await asyncio.sleep(s.idle_s)
        idle_rate = (_cpu_seconds(target.process.pid) - idle_from) / (
            time.perf_counter() - idle_started
        )
        cpu_before, started = _cpu_seconds(target.process.pid), time.perf_counter()
        published = await publish_heartbeats(
            target.url, ids, rate=s.watch_rate, duration_s=s.fanout_s, connections=64
        )
        end = await _revision(target)
        seqs = await asyncio.to_thread(_seqs_by_vm, target.db, head, end)
        command = {"expect": end - head, "first": head + 1, "drain_s": s.drain_s, "seqs": seqs}
        child.stdin.write(orjson.dumps(command) + b"\n")
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), s.drain_s + 300)
        cpu_s = _cpu_seconds(target.process.pid) - cpu_before
        elapsed = time.perf_counter() - started
        report: dict[str, Any] = _message(line, log)["result"]
    finally:
        if child.returncode is None:
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), 30)
            except TimeoutError:
                child.kill()
                await child.wait()
    events = max(1, end - head)
    net_s = max(0.0, cpu_s - idle_rate * elapsed)
    report.update(
        watchers=len(ids),
        connect_problems=ready["problems"],
        server_cpu_s=round(cpu_s, 3),
        idle_cpu_per_s=round(idle_rate, 4),
        server_cpu_us_per_event_raw=round(cpu_s / events * 1e6, 1),
        server_cpu_us_per_event=round(net_s / events * 1e6, 1),
        measured_s=round(elapsed, 2),
        publisher={
            "planned": published.planned,
            "ok": published.ok,
            "failed": published.failed,
            "rate": round(published.rate, 1),
        },
    )
    if published.failed:
        report["problem"] = f"{published.failed} heartbeats failed: {published.statuses}"
    return report
