"""P17: fan-out indexed by selector. P8 again, but each watcher finds its VM by a metadata
value only that VM holds (`?selector=shard=<its id>`) instead of `?vm=`.

Every VM is registered with `{"shard": <its id>}`, and watcher i watches
`selector=shard=<VM i>`; the heartbeats go round-robin over the watched VMs, so each event
concerns exactly one watcher, as in P8, and "every frame delivered" is checked the same way
(`fanout.one_run`). The CPU per event with `watchers` watchers over that with `few_watchers`
tells whether a selector watcher costs the server anything for events its selector cannot
match (the feed indexes selectors by their equality term: docs/feed.md, Fan-out).
"""

from __future__ import annotations

from ops.bench.context import Context
from ops.bench.load import bench_vm_id, register_bodies, registration_body
from ops.bench.outcome import Outcome
from ops.bench.scenarios import outcome
from ops.bench.scenarios.fanout import fill, one_run
from ops.bench.server import start_server

NUMBERS = (17,)
KEY = "shard"


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    result = outcome(17, s)
    if ctx.url is not None:
        return [result.skip("needs the harness's own server (its log and CPU), not --url")]
    target = await start_server(
        ctx.workdir / "selector-fanout.db",
        extra_args=ctx.subscriber_cap_args(s.watchers),
        profile_dir=ctx.profile_dir,
    )
    try:
        prefix = f"s-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.watchers)]
        ctx.say(f"registering {len(ids):,} VMs, each with its own {KEY}")
        await register_bodies(target.url, [_body(vm_id) for vm_id in ids])
        many, few = [], []
        for number in range(s.runs):
            ctx.say(f"P17: run {number + 1}/{s.runs}, {s.watchers:,} watchers")
            many.append(await one_run(ctx, target, prefix, ids, KEY))
            ctx.say(f"P17: run {number + 1}/{s.runs}, {s.few_watchers:,} watchers")
            few.append(await one_run(ctx, target, prefix, ids[: s.few_watchers], KEY))
        fill(result, many, few, s.watch_rate)
    finally:
        await target.stop()
    return [result]


def _body(vm_id: str) -> dict[str, object]:
    body = registration_body(vm_id)
    body["metadata"] = {KEY: vm_id}
    return body
