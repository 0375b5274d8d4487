"""Scenarios 1, 2 and 10: durable writes over HTTP, and what they cost on disk.

Each run measures `GET /health` with the same wrk settings right before the writes it is
paired with. Scenario 10 reads the database file of the server that scenario 1 loaded: it is
checkpointed from outside (SQLite allows a second process to do that), measured before and
after the heartbeats, and the growth is divided by the number of events appended.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from ops.bench.context import Context
from ops.bench.load import bench_vm_id, register_fleet
from ops.bench.logs import log_head
from ops.bench.outcome import SKIPPED, Outcome, median, rounded
from ops.bench.scenarios import outcome
from ops.bench.server import Target, connect_url, start_server
from ops.bench.wrk import WrkResult, run_wrk

NUMBERS = (1, 2, 10)
P99_LIMIT_MS = 30.0


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    heartbeats, registrations, size = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (heartbeats, registrations, size) if ctx.wants(o.number)]
    if ctx.wrk is None:
        return [o.skip(ctx.wrk_note) for o in chosen]
    if ctx.url is not None:
        size.skip("needs the harness's own server (the database file), not --url")
    if ctx.url is None:
        target = await start_server(ctx.workdir / "writes.db", profile_dir=ctx.profile_dir)
    else:
        target = await connect_url(ctx.url)
    try:
        if ctx.wants(1, 10):
            await _heartbeats(ctx, target, heartbeats, size)
        if ctx.wants(2):
            await _registrations(ctx, target, registrations)
    finally:
        await target.stop()
    return chosen


async def _pair(
    ctx: Context, target: Target, script: str, script_args: list[str]
) -> tuple[WrkResult, WrkResult]:
    assert ctx.wrk is not None
    connections, duration_s = ctx.settings.write_connections, ctx.settings.duration_s
    reference = await run_wrk(
        ctx.wrk, f"{target.url}/health", connections=connections, duration_s=duration_s
    )
    measured = await run_wrk(
        ctx.wrk,
        target.url,
        script=script,
        script_args=script_args,
        connections=connections,
        duration_s=duration_s,
    )
    return reference, measured


def _fill(result: Outcome, pairs: list[tuple[WrkResult, WrkResult]]) -> None:
    result.figure = rounded(median([m.rps for _, m in pairs]), 1)
    result.unit = "req/s"
    result.reference = rounded(median([r.rps for r, _ in pairs]), 1)
    result.reference_unit = "req/s"
    result.ratio = rounded(median([m.rps / r.rps for r, m in pairs]))
    result.p50_ms = rounded(median([m.p50_ms for _, m in pairs]), 2)
    result.p99_ms = rounded(median([m.p99_ms for _, m in pairs]), 2)
    result.details["runs"] = [{"reference": r.to_json(), "measured": m.to_json()} for r, m in pairs]
    failed = sum(m.failed for _, m in pairs)
    if failed:
        total = sum(m.requests for _, m in pairs)
        result.note = f"{failed} of {total} requests failed or were not 2xx"


async def _heartbeats(ctx: Context, target: Target, result: Outcome, size: Outcome) -> None:
    s = ctx.settings
    prefix = f"hb-{ctx.run_tag}-"
    ctx.say(f"registering {s.heartbeat_vms} VMs for the heartbeat load")
    await register_fleet(target.url, [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)])
    assert ctx.wrk is not None
    await run_wrk(ctx.wrk, f"{target.url}/health", connections=8, duration_s=s.warmup_s)
    before = await _checkpointed_size(target.db) if target.db is not None else None
    pairs = []
    for number in range(s.runs):
        ctx.say(f"scenario 1: run {number + 1}/{s.runs}")
        pairs.append(await _pair(ctx, target, "heartbeat.lua", [prefix, str(s.heartbeat_vms)]))
    _fill(result, pairs)
    result.met = (
        result.ratio is not None
        and result.ratio >= 0.70
        and result.p99_ms is not None
        and result.p99_ms <= P99_LIMIT_MS
        and not result.note
    )
    if before is not None and target.db is not None and size.status != SKIPPED:
        after = await _checkpointed_size(target.db)
        events = after[1] - before[1]
        size.figure = rounded((after[0] - before[0]) / events, 1) if events else None
        size.unit = "B/heartbeat"
        size.met = size.figure is not None and size.figure <= 120
        size.details = {
            "heartbeats": events,
            "bytes_before": before[0],
            "bytes_after": after[0],
            "note": "database file growth after a checkpoint, divided by the events appended",
        }


async def _registrations(ctx: Context, target: Target, result: Outcome) -> None:
    s = ctx.settings
    pairs = []
    for number in range(s.runs):
        ctx.say(f"scenario 2: run {number + 1}/{s.runs}")
        pairs.append(await _pair(ctx, target, "register.lua", [f"reg-{ctx.run_tag}-{number}"]))
    _fill(result, pairs)
    result.met = result.ratio is not None and result.ratio >= 0.60 and not result.note


async def _checkpointed_size(db: Path) -> tuple[int, int]:
    """(bytes of the database file once the WAL is folded into it, head seq)."""

    def checkpoint() -> None:
        connection = sqlite3.connect(db, timeout=10)
        try:
            for _ in range(50):
                busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    await asyncio.to_thread(checkpoint)
    return db.stat().st_size, await log_head(db)
