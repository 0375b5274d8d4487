"""Scenarios 3, 4 and 9: reads against a large fleet, and what the fleet costs in memory.

Both fleets are synthetic logs the servers replay at start. Scenario 3 pairs each run on the
large fleet with one on the small fleet (two servers, one idle while the other is measured).
Scenario 9 compares the large-fleet server with a server on an empty log, once it has served
the whole fleet (`GET /registry/vms`), so per-VM caches count; the note gives the figure right
after start.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.logs import fleet_log, now_ms, write_log
from ops.bench.outcome import FAILED, Outcome, median, rounded
from ops.bench.reference import time_encoding
from ops.bench.scenarios import outcome
from ops.bench.server import Target, start_server
from ops.bench.wrk import run_wrk

NUMBERS = (3, 4, 9)
KIB = 1024
LISTING_SAMPLES = 4  # complete responses wanted per scenario 4 run
LISTING_MAX_S = 30.0


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    discover, listing, memory = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (discover, listing, memory) if ctx.wants(o.number)]
    if ctx.url is not None:
        return [o.skip("needs fleets the harness builds itself, not --url") for o in chosen]
    big_db, small_db = ctx.workdir / "fleet-big.db", ctx.workdir / "fleet-small.db"
    ctx.say(f"writing a log of {s.big_fleet:,} registrations")
    await write_log(big_db, fleet_log(s.big_fleet, s.infra_vms, now_ms()))
    idle_rss = None
    if ctx.wants(9):
        idle = await start_server(ctx.workdir / "idle.db")
        try:
            for _ in range(20):
                await fetch(idle.url, "/health")
            idle_rss = idle.rss_bytes()
        finally:
            await idle.stop()
    big = await start_server(big_db, profile_dir=ctx.profile_dir)
    try:
        await fetch(big.url, "/registry/discover/infra")
        await asyncio.sleep(0.5)
        started_rss = big.rss_bytes()
        if ctx.wants(3):
            await _discover(ctx, discover, big, small_db)
        if ctx.wants(4):
            await _listing(ctx, listing, big)
        if idle_rss is not None:
            await fetch(big.url, "/registry/vms")
            await asyncio.sleep(0.5)
            _memory(memory, idle_rss, started_rss, big.rss_bytes(), s.big_fleet)
    finally:
        await big.stop()
    return chosen


def _memory(result: Outcome, idle: int, started: int, listed: int, fleet: int) -> None:
    # The figure is the server as it runs: after it has served the fleet at least once, so
    # whatever it caches per VM for that counts too.
    per_vm = (listed - idle) / fleet
    result.figure, result.unit = rounded(per_vm, 1), "B/VM"
    result.reference, result.reference_unit = rounded(idle / 2**20, 1), "MiB idle RSS"
    result.met = per_vm <= 1.5 * KIB
    result.note = f"{(started - idle) / fleet:,.0f} B/VM right after start, before any listing"
    result.details = {
        "idle_rss": idle,
        "rss_after_start": started,
        "rss_after_listing": listed,
        "fleet": fleet,
    }


async def _discover(ctx: Context, result: Outcome, big: Target, small_db: Path) -> None:
    s = ctx.settings
    if ctx.wrk is None:
        result.skip(ctx.wrk_note)
        return
    await write_log(small_db, fleet_log(s.small_fleet, s.infra_vms, now_ms()))
    small = await start_server(small_db, profile_dir=ctx.profile_dir)
    try:
        for target in (small, big):
            found = (await fetch(target.url, "/registry/discover/infra")).json()
            if not isinstance(found, dict) or found.get("count") != s.infra_vms:
                result.status, result.note = FAILED, f"discover/infra answered {found!r:.200}"
                return
        path = "/registry/discover/infra"
        pairs = []
        for number in range(s.runs):
            ctx.say(f"scenario 3: run {number + 1}/{s.runs}")
            reference = await run_wrk(
                ctx.wrk, small.url + path, connections=s.read_connections, duration_s=s.duration_s
            )
            measured = await run_wrk(
                ctx.wrk, big.url + path, connections=s.read_connections, duration_s=s.duration_s
            )
            pairs.append((reference, measured))
    finally:
        await small.stop()
    result.figure, result.unit = rounded(median([m.p50_ms for _, m in pairs]), 3), "ms p50"
    result.reference = rounded(median([r.p50_ms for r, _ in pairs]), 3)
    result.reference_unit = "ms p50"
    result.ratio = rounded(median([m.p50_ms / r.p50_ms for r, m in pairs]))
    result.p50_ms = result.figure
    result.p99_ms = rounded(median([m.p99_ms for _, m in pairs]), 3)
    result.met = result.ratio <= 1.2
    result.details["runs"] = [{"reference": r.to_json(), "measured": m.to_json()} for r, m in pairs]


async def _listing(ctx: Context, result: Outcome, big: Target) -> None:
    s = ctx.settings
    if ctx.wrk is None:
        result.skip(ctx.wrk_note)
        return
    started = time.perf_counter()
    listing = (await fetch(big.url, "/registry/vms")).json()
    once_s = time.perf_counter() - started
    if not isinstance(listing, dict) or listing.get("count") != s.big_fleet:
        result.status, result.note = FAILED, f"/registry/vms did not list {s.big_fleet} VMs"
        return
    encodings = time_encoding(listing, repeats=max(5, s.runs * 3))
    # Long enough for a few complete responses each run, however slow one is.
    duration_s = min(LISTING_MAX_S, max(s.duration_s, LISTING_SAMPLES * once_s))
    measured = []
    for number in range(s.runs):
        ctx.say(f"scenario 4: run {number + 1}/{s.runs} ({duration_s:.0f} s)")
        run = await run_wrk(
            ctx.wrk,
            big.url + "/registry/vms",
            connections=1,
            duration_s=duration_s,
            timeout_s=LISTING_MAX_S,
        )
        if run.requests:
            measured.append(run)
    if not measured:
        result.status, result.note = FAILED, f"no response within {duration_s:.0f} s"
        return
    reference_ms = median(encodings) * 1000
    result.figure, result.unit = rounded(median([m.p50_ms for m in measured]), 1), "ms p50"
    result.reference, result.reference_unit = rounded(reference_ms, 1), "ms orjson"
    result.ratio = rounded(result.figure / reference_ms)
    result.p50_ms = result.figure
    result.p99_ms = rounded(median([m.p99_ms for m in measured]), 1)
    result.met = result.ratio <= 2
    result.details = {
        "runs": [m.to_json() for m in measured],
        "encode_ms": [rounded(t * 1000, 2) for t in encodings],
        "response_bytes": len(orjson.dumps(listing)),
    }
