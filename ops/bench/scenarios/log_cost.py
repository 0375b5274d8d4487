"""P15: what the request log costs. P2's heartbeats on two of our own servers, alike but for
the log: one at `--log-level info` writing a JSON line per request (into its log file, as a
service manager's journal would take it), the other at `warning`, where request lines are
off. Measured alternately like the peer scenarios; the ratio is logs on over logs off."""

from __future__ import annotations

from ops.bench.alternate import OURS, PEER
from ops.bench.context import Context
from ops.bench.load import bench_vm_id, register_fleet
from ops.bench.outcome import Outcome
from ops.bench.scenarios import outcome
from ops.bench.scenarios.writes import fill, measure, ratio_at_least
from ops.bench.server import Target, start_server

NUMBERS = (15,)
LOGS_OFF = "logs off"


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    result = outcome(15, s)
    if ctx.wrk is None:
        return [result.skip(ctx.wrk_note)]
    if ctx.url is not None:
        return [result.skip("needs two servers the harness starts itself, not --url")]
    targets: dict[str, Target] = {}
    try:
        # Ours is the logging server; the "peer" side is the same server with logs off.
        for name, level in ((OURS, "info"), (PEER, "warning")):
            targets[name] = await start_server(
                ctx.workdir / f"log-{level}.db",
                extra_args=ctx.server_args,
                profile_dir=ctx.profile_dir,
                log_level=level,
            )
        prefix = f"lg-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
        for name, target in targets.items():
            ctx.say(f"registering {len(ids):,} VMs on {name} for P15")
            await register_fleet(target.url, ids)
        args = [prefix, str(s.heartbeat_vms)]
        runs = await measure(ctx, "P15", targets, "per_vm.lua", lambda _: args)
        fill(result, runs, reference=LOGS_OFF)
        result.met = ratio_at_least(result, 0.8)
        logged = targets[OURS].log
        result.details["log_bytes"] = logged.stat().st_size if logged else None
    finally:
        for target in targets.values():
            await target.stop()
    return [result]
