"""P4, P5 and P6: a fleet of 100,000 VMs: registering into it, discovering in it, its memory.

Our server replays a synthetic log of the fleet (`logs.fleet_log`, written through the store's
own API: building it over HTTP would take minutes and is not what is measured). The peer is
filled over HTTP with the same entries, up to the same size, with the same number of infra
VMs; its "idle" memory is its RSS before the fill, so its per-VM figure is the growth over the
VMs added. For ours, idle is a server on an empty log, and the fleet's RSS is read after one
`GET /registry/vms`, so per-VM caches count. P5 and P6 run before P4, which adds VMs.
"""

from __future__ import annotations

import asyncio

from ops.bench import peer as peer_process
from ops.bench.alternate import OURS, PEER, alternate
from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.load import register_bodies
from ops.bench.logs import fleet_log, now_ms, registration, uuid_like, write_log
from ops.bench.outcome import FAILED, Outcome, median, rounded
from ops.bench.scenarios import outcome
from ops.bench.scenarios.writes import fill
from ops.bench.server import Target, connect_url, start_server
from ops.bench.wrk import WrkResult, run_wrk

NUMBERS = (4, 5, 6)
KIB = 1024
REGISTER_P99_MS = 50.0  # issue #21 (round 2: 100)
DISCOVER_SPREAD = 5.0
PER_VM_LIMIT = 1536


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    register, discover, memory = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (register, discover, memory) if ctx.wants(o.number)]
    if ctx.url is not None:
        return [o.skip("needs a fleet the harness builds itself, not --url") for o in chosen]
    big_db = ctx.workdir / "fleet.db"
    ctx.say(f"writing a log of {s.big_fleet:,} registrations")
    await write_log(big_db, fleet_log(s.big_fleet, s.infra_vms, now_ms()))
    idle_rss = None
    if ctx.wants(6):
        idle = await start_server(ctx.workdir / "idle.db", extra_args=ctx.server_args)
        try:
            for _ in range(20):
                await fetch(idle.url, "/health")
            idle_rss = idle.rss_bytes()
        finally:
            await idle.stop()
    targets: dict[str, Target] = {}
    if ctx.peer_url is not None:
        targets[PEER] = await connect_url(ctx.peer_url)
    targets[OURS] = await start_server(
        big_db, extra_args=ctx.server_args, profile_dir=ctx.profile_dir
    )
    try:
        if PEER in targets and ctx.wants(4, 5, 6):
            await _fill_peer(ctx, targets[PEER], memory)
        ours = targets[OURS]
        await fetch(ours.url, "/registry/discover/infra")
        if idle_rss is not None:
            await fetch(ours.url, "/registry/vms")
            await asyncio.sleep(0.5)
            _memory(memory, idle_rss, ours.rss_bytes(), s.big_fleet)
        if ctx.wants(5):
            await _discover(ctx, discover, targets)
        if ctx.wants(4):
            await _register(ctx, register, targets)
    finally:
        for target in targets.values():
            await target.stop()
    return chosen


async def _fill_peer(ctx: Context, peer: Target, memory: Outcome) -> None:
    s = ctx.settings
    listing = (await fetch(peer.url, "/registry/vms")).json()
    present = listing.get("count", 0) if isinstance(listing, dict) else 0
    infra = (await fetch(peer.url, "/registry/discover/infra")).json()
    infra_present = infra.get("count", 0) if isinstance(infra, dict) else 0
    before = peer_process.rss_bytes(peer.url)
    missing = max(0, s.big_fleet - present)
    ctx.say(f"filling the peer from {present:,} to {present + missing:,} VMs over HTTP")
    at = now_ms()
    bodies = []
    for index in range(missing):
        role = "infra" if index < s.infra_vms - infra_present else "worker"
        vm_id = f"{ctx.run_tag}-{uuid_like(index)}"
        event = registration(vm_id, role, at)
        assert event.data is not None
        bodies.append({"id": vm_id, **event.data})
    await register_bodies(peer.url, bodies, connections=32)
    await asyncio.sleep(1.0)  # its debounced save of the whole fleet to JSON
    after = peer_process.rss_bytes(peer.url)
    memory.details["peer"] = {"vms_before": present, "added": missing}
    if before is not None and after is not None and missing:
        memory.reference = rounded((after - before) / missing, 1)
        memory.reference_unit = "B/VM"
        memory.details["peer"].update(rss_before=before, rss_after=after)


def _memory(result: Outcome, idle: int, listed: int, fleet: int) -> None:
    per_vm = (listed - idle) / fleet
    result.figure, result.unit = rounded(per_vm, 1), "B/VM"
    result.met = per_vm <= PER_VM_LIMIT
    result.details.update(idle_rss=idle, rss_after_listing=listed, fleet=fleet)
    if result.reference:
        result.ratio = rounded(per_vm / result.reference)
    result.note = f"ours: {idle / 2**20:.1f} MiB idle, {listed / 2**20:.1f} MiB at the fleet"


async def _discover(ctx: Context, result: Outcome, targets: dict[str, Target]) -> None:
    s = ctx.settings
    if ctx.wrk is None:
        result.skip(ctx.wrk_note)
        return
    wrk = ctx.wrk
    path = "/registry/discover/infra"
    for name, target in targets.items():
        found = (await fetch(target.url, path)).json()
        count = found.get("count") if isinstance(found, dict) else None
        if name == OURS and count != s.infra_vms:
            result.status, result.note = FAILED, f"discover/infra answered {found!r:.200}"
            return
        await run_wrk(wrk, target.url + path, connections=s.connections, duration_s=s.warmup_s)

    def side(name: str, target: Target):  # type: ignore[no-untyped-def]
        async def one(number: int) -> WrkResult:
            ctx.say(f"P5: {name}, run {number + 1}/{s.runs}")
            return await run_wrk(
                wrk,
                target.url + path,
                connections=s.connections,
                threads=s.wrk_threads,
                duration_s=s.duration_s,
            )

        return one

    runs = await alternate(s.runs, {name: side(name, t) for name, t in targets.items()})
    ours = runs[OURS]
    spread = [m.p99_ms / m.p50_ms for m in ours]
    result.figure, result.unit = rounded(median(spread), 2), "p99/p50"
    result.p50_ms = rounded(median([m.p50_ms for m in ours]), 2)
    result.p99_ms = rounded(median([m.p99_ms for m in ours]), 2)
    result.met = result.figure <= DISCOVER_SPREAD
    result.note = f"ours {median([m.rps for m in ours]):,.0f} rps"
    result.details["ours"] = [m.to_json() for m in ours]
    peer = runs.get(PEER)
    if peer:
        peer_spread = [m.p99_ms / m.p50_ms for m in peer]
        result.reference, result.reference_unit = rounded(median(peer_spread), 2), "p99/p50"
        result.ratio = rounded(median([o / p for o, p in zip(spread, peer_spread, strict=True)]))
        result.details["peer"] = [m.to_json() for m in peer]
        result.note += (
            f", peer {median([m.rps for m in peer]):,.0f} rps (p50 "
            f"{median([m.p50_ms for m in peer]):.1f} ms); rps ours/peer "
            f"{median([o.rps / p.rps for o, p in zip(ours, peer, strict=True)]):.2f}"
        )


async def _register(ctx: Context, result: Outcome, targets: dict[str, Target]) -> None:
    s = ctx.settings
    if ctx.wrk is None:
        result.skip(ctx.wrk_note)
        return
    wrk = ctx.wrk
    tag = f"big-{ctx.run_tag}"
    for target in targets.values():
        await run_wrk(
            wrk,
            target.url,
            script="register.lua",
            script_args=[f"{tag}-warm"],
            connections=s.connections,
            threads=s.wrk_threads,
            duration_s=s.warmup_s,
        )

    def side(name: str, target: Target):  # type: ignore[no-untyped-def]
        async def one(number: int) -> WrkResult:
            ctx.say(f"P4: {name}, run {number + 1}/{s.runs}")
            return await run_wrk(
                wrk,
                target.url,
                script="register.lua",
                script_args=[f"{tag}-{number}"],
                connections=s.connections,
                threads=s.wrk_threads,
                duration_s=s.duration_s,
            )

        return one

    fill(result, await alternate(s.runs, {name: side(name, t) for name, t in targets.items()}))
    result.met = (
        result.ratio is not None
        and result.ratio >= 3
        and result.p99_ms is not None
        and result.p99_ms <= REGISTER_P99_MS
    )
