"""P1, P2 and P3: the cheapest request, durable heartbeats and registrations, side by side;
beside P1 and P2, the stack's ceiling (`ceilings.py`: C1, C1L, C2 and C2D) in the same
alternation.

Ours is a fresh `vm-registry serve` on an empty log; the peer is whatever `--peer-url` names.
Both get the same heartbeat fleet, registered over HTTP first. Each scenario warms each server
up once, then measures them alternately (`alternate.py`) with the same wrk settings. The
registrations of P3 use ids unique to the run, so "from empty" means: the heartbeat fleet and
the registrations of the runs before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ops.bench.alternate import OURS, PEER, alternate
from ops.bench.context import Context
from ops.bench.load import bench_vm_id, register_fleet
from ops.bench.outcome import Outcome, median, rounded
from ops.bench.scenarios import ceilings, outcome
from ops.bench.server import Target, connect_url, start_server
from ops.bench.wrk import WrkResult, run_wrk

NUMBERS = (1, 2, 3)
HEARTBEAT_P99_MS = 20.0  # issue #21 (round 2: 30)

Measure = Callable[[int], Awaitable[WrkResult]]


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    health, heartbeats, registrations = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (health, heartbeats, registrations) if ctx.wants(o.number)]
    if ctx.wrk is None:
        return [o.skip(ctx.wrk_note) for o in chosen]
    targets: dict[str, Target] = {}
    if ctx.peer_url is not None:
        targets[PEER] = await connect_url(ctx.peer_url)
    if ctx.url is None:
        targets[OURS] = await start_server(
            ctx.workdir / "writes.db", extra_args=ctx.server_args, profile_dir=ctx.profile_dir
        )
    else:
        targets[OURS] = await connect_url(ctx.url)
    try:
        if ctx.wants(1):
            async with ceilings.beside(ctx, 1, targets[OURS], "GET", "/health") as ceiling_sides:
                runs = await measure(
                    ctx, "P1", {**targets, **ceiling_sides}, "get.lua", lambda _: [], "/health"
                )
            fill(health, runs)
            health.met = ratio_at_least(health, 1.2)
            chosen += ceilings.rows(1, runs, s)
        if ctx.wants(2):
            prefix = f"hb-{ctx.run_tag}-"
            ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
            for name, target in targets.items():
                ctx.say(f"registering {len(ids):,} VMs on {name} for the heartbeat load")
                await register_fleet(target.url, ids)
            args = [prefix, str(s.heartbeat_vms)]
            one = f"/registry/vms/{ids[0]}/heartbeat"
            async with ceilings.beside(ctx, 2, targets[OURS], "POST", one) as ceiling_sides:
                runs = await measure(
                    ctx, "P2", {**targets, **ceiling_sides}, "per_vm.lua", lambda _: args
                )
            fill(heartbeats, runs)
            heartbeats.met = ratio_at_least(heartbeats, 1.0) and p99_within(
                heartbeats, HEARTBEAT_P99_MS
            )
            chosen += ceilings.rows(2, runs, s)
        if ctx.wants(3):
            tag = f"reg-{ctx.run_tag}"
            fill(
                registrations,
                await measure(ctx, "P3", targets, "register.lua", lambda n: [f"{tag}-{n}"]),
            )
            registrations.met = ratio_at_least(registrations, 2.0)
    finally:
        for target in targets.values():
            await target.stop()
    return chosen


async def measure(
    ctx: Context,
    label: str,
    targets: dict[str, Target],
    script: str,
    script_args: Callable[[int], list[str]],
    path: str = "",
) -> dict[str, list[WrkResult]]:
    s = ctx.settings
    assert ctx.wrk is not None
    wrk = ctx.wrk

    def side(name: str, target: Target) -> Measure:
        async def one(number: int) -> WrkResult:
            ctx.say(f"{label}: {name}, run {number + 1}/{s.runs}")
            return await run_wrk(
                wrk,
                target.url + path,
                script=script,
                script_args=script_args(number),
                connections=s.connections,
                threads=s.wrk_threads,
                duration_s=s.duration_s,
            )

        return one

    for name, target in targets.items():
        # Warm-up: a throwaway run with its own ids, never counted.
        await run_wrk(
            wrk,
            target.url + path,
            script=script,
            script_args=script_args(1000 + len(name)),
            connections=s.connections,
            threads=s.wrk_threads,
            duration_s=s.warmup_s,
        )
    return await alternate(s.runs, {name: side(name, t) for name, t in targets.items()})


def fill(result: Outcome, runs: dict[str, list[WrkResult]], reference: str = "peer") -> None:
    """Ours as the figure, the peer as the reference, ratio = median of per-run ratios.
    `reference` names the peer side in the note (P15's is our own server, logs off)."""
    ours = runs[OURS]
    result.figure, result.unit = rounded(median([m.rps for m in ours]), 1), "rps"
    result.p50_ms = rounded(median([m.p50_ms for m in ours]), 2)
    result.p99_ms = rounded(median([m.p99_ms for m in ours]), 2)
    result.details["ours"] = [m.to_json() for m in ours]
    notes = []
    failed = sum(m.failed for m in ours)
    if failed:
        notes.append(f"ours: {failed} of {sum(m.requests for m in ours)} requests failed")
    peer = runs.get(PEER)
    if peer:
        result.reference, result.reference_unit = rounded(median([m.rps for m in peer]), 1), "rps"
        result.ratio = rounded(median([o.rps / p.rps for o, p in zip(ours, peer, strict=True)]))
        result.details["peer"] = [m.to_json() for m in peer]
        peer_p50 = median([m.p50_ms for m in peer])
        peer_p99 = median([m.p99_ms for m in peer])
        notes.append(f"{reference} p50 {peer_p50:.1f} ms, p99 {peer_p99:.1f} ms")
        failed = sum(m.failed for m in peer)
        if failed:
            notes.append(
                f"{reference}: {failed} of {sum(m.requests for m in peer)} requests failed"
            )
    else:
        notes.append("no peer (--peer-url): no ratio")
    result.note = "; ".join(notes)


def ratio_at_least(result: Outcome, wanted: float) -> bool | None:
    if result.ratio is None:
        return None
    failed = any(m["errors"] and sum(m["errors"].values()) for m in result.details["ours"])
    return result.ratio >= wanted and not failed


def p99_within(result: Outcome, limit_ms: float) -> bool:
    return result.p99_ms is not None and result.p99_ms <= limit_ms
