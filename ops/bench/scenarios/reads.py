"""P13 and P14: the cheapest reads on a fleet of a thousand, side by side.

Both servers get the same 1,000 VMs over HTTP, `role_vms` (100) of them lieutenants and the
rest workers. P13 reads one VM at a time (`GET /registry/vms/{id}`, cycling over the fleet with
`per_vm.lua`), P14 discovers the lieutenants (`GET /registry/discover/lieutenant`, 100 in every
answer). This group runs first, so a peer started fresh holds only this fleet: its discover
walks its whole map, and P2 to P5 would otherwise have grown it by tens of thousands of VMs
(the count the peer answers is kept in the details, and noted when it is not `role_vms`).
"""

from __future__ import annotations

from ops.bench.alternate import OURS, PEER
from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.load import bench_vm_id, register_bodies, registration_body
from ops.bench.outcome import Outcome
from ops.bench.scenarios import outcome
from ops.bench.scenarios.writes import fill, measure, ratio_at_least
from ops.bench.server import Target, connect_url, start_server

NUMBERS = (13, 14)
ROLE = "lieutenant"


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    one_vm, discover = (outcome(n, s) for n in NUMBERS)
    chosen = [o for o in (one_vm, discover) if ctx.wants(o.number)]
    if ctx.wrk is None:
        return [o.skip(ctx.wrk_note) for o in chosen]
    targets: dict[str, Target] = {}
    if ctx.peer_url is not None:
        targets[PEER] = await connect_url(ctx.peer_url)
    if ctx.url is None:
        targets[OURS] = await start_server(
            ctx.workdir / "reads.db", extra_args=ctx.server_args, profile_dir=ctx.profile_dir
        )
    else:
        targets[OURS] = await connect_url(ctx.url)
    try:
        prefix = f"rd-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
        bodies = [
            registration_body(vm_id, ROLE if i < s.role_vms else "worker")
            for i, vm_id in enumerate(ids)
        ]
        for name, target in targets.items():
            ctx.say(f"registering {len(ids):,} VMs on {name} for the reads")
            await register_bodies(target.url, bodies)
        if ctx.wants(13):
            args = [prefix, str(s.heartbeat_vms), "GET", ""]
            fill(one_vm, await measure(ctx, "P13", targets, "per_vm.lua", lambda _: args))
            one_vm.met = ratio_at_least(one_vm, 1.2)
        if ctx.wants(14):
            path = f"/registry/discover/{ROLE}"
            counts = {name: await _count(t, path) for name, t in targets.items()}
            fill(discover, await measure(ctx, "P14", targets, "get.lua", lambda _: [], path))
            discover.met = ratio_at_least(discover, 1.5)
            discover.details["answered"] = counts
            odd = {name: n for name, n in counts.items() if n != s.role_vms}
            if odd:
                discover.note += f"; VMs per answer not {s.role_vms}: {odd}"
    finally:
        for target in targets.values():
            await target.stop()
    return chosen


async def _count(target: Target, path: str) -> int:
    answer = (await fetch(target.url, path)).json()
    vms = answer.get("vms", []) if isinstance(answer, dict) else []
    return len(vms)
