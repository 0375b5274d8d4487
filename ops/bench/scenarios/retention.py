"""P16: what retention costs live writes, and whether it keeps the file to a size.

Two of our own servers on copies of one log holding `retention_events` old events (written a
day in the past, over the heartbeat fleet's size): one with `--retain 1h --archive-dir`, which
starts dropping all of them at once, in steps, archiving each; the other without retention.
P2's heartbeats are measured alternately on both, like P15; the figure is with retention, the
reference without, and the details record how many events retention dropped during the runs.

Then the plateau: a fresh server with `--retain {retention_window_s}s`, steady heartbeats for
`retention_windows` windows, the SQLite file's size (with its WAL) sampled at the end of each;
from the third window on (the first two fill the window) the largest may be at most 10 % above
the smallest.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson

from ops.bench.alternate import OURS, PEER
from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.load import bench_vm_id, register_fleet
from ops.bench.logs import heartbeat_log, now_ms, write_log
from ops.bench.outcome import Outcome, rounded
from ops.bench.scenarios import outcome
from ops.bench.scenarios.writes import fill, measure, p99_within, ratio_at_least
from ops.bench.server import Target, start_server
from ops.bench.wrk import run_wrk

NUMBERS = (16,)
WITHOUT = "no retention"
DAY_MS = 86_400_000


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    result = outcome(16, s)
    if ctx.wrk is None:
        return [result.skip(ctx.wrk_note)]
    if ctx.url is not None:
        return [result.skip("needs servers the harness starts itself, not --url")]
    folder = ctx.workdir / "retention"
    folder.mkdir(exist_ok=True)
    base = folder / "old.db"
    ctx.say(f"P16: writing a log of {s.retention_events:,} old events")
    events = heartbeat_log(s.retention_events, s.heartbeat_vms, 0.97, now_ms() - DAY_MS)
    await write_log(base, events)
    targets: dict[str, Target] = {}
    archive = folder / "archive"
    try:
        retaining = ["--retain", "1h", "--retain-interval", "1", "--archive-dir", str(archive)]
        for name, extra in ((OURS, retaining), (PEER, [])):
            db = folder / f"{'retain' if name == OURS else 'keep'}.db"
            shutil.copy(base, db)
            targets[name] = await start_server(db, extra_args=[*ctx.server_args, *extra])
        prefix = f"rt-{ctx.run_tag}-"
        ids = [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)]
        for name, target in targets.items():
            ctx.say(f"registering {len(ids):,} VMs on {name} for P16")
            await register_fleet(target.url, ids)
        dropped_before = await _dropped(targets[OURS])
        args = [prefix, str(s.heartbeat_vms)]
        runs = await measure(ctx, "P16", targets, "per_vm.lua", lambda _: args)
        dropped_after = await _dropped(targets[OURS])
        fill(result, runs, reference=WITHOUT)
        result.details["dropped_during_runs"] = dropped_after - dropped_before
        result.details["dropped_total"] = dropped_after
        ratio_met = bool(ratio_at_least(result, 0.8)) and p99_within(result, 50.0)
    finally:
        for target in targets.values():
            await target.stop()
    files, held, steps = await _plateau(ctx, folder / "plateau.db")
    sizes = [db + wal for db, wal in files]
    steady = sizes[2:]
    spread = max(steady) / min(steady) - 1 if steady else None
    result.details["plateau_bytes"] = sizes
    # Which of the two moved: the database (retention's pages not handed back) or the WAL.
    result.details["plateau_db_bytes"] = [db for db, _ in files]
    result.details["plateau_wal_bytes"] = [wal for _, wal in files]
    # The events the live log held: more than a window's worth is retention falling behind.
    result.details["plateau_events_held"] = held
    result.details["plateau_last_step_s"] = steps
    result.details["plateau_spread"] = rounded(spread, 3) if spread is not None else None
    plateau_met = spread is not None and spread <= 0.10
    result.met = ratio_met and plateau_met
    result.note += f"; {result.details['dropped_during_runs']:,} events dropped during the runs"
    if spread is not None:
        result.note += f"; file size over windows 3..{len(sizes)} within {spread:.1%}"
    return [result]


async def _dropped(target: Target) -> int:
    return int(await _metric(target, "vm_registry_retention_dropped_events_total"))


async def _metric(target: Target, name: str) -> float:
    answer = await fetch(target.url, "/metrics")
    if answer.status != 200:
        return 0.0
    for line in answer.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _file_bytes(db: Path) -> tuple[int, int]:
    """The database file's size and its WAL's."""
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size, (wal.stat().st_size if wal.exists() else 0)


async def _held(target: Target) -> int:
    answer = await fetch(target.url, "/health")
    if answer.status != 200:
        return 0
    health = orjson.loads(answer.body)
    return int(health["head"]) - int(health["retention"]["oldestSeq"]) + 1


async def _plateau(ctx: Context, db: Path) -> tuple[list[tuple[int, int]], list[int], list[float]]:
    """At the end of each window: the database's and the WAL's sizes, the events held, and
    how long retention's last step took."""
    s = ctx.settings
    assert ctx.wrk is not None
    window = s.retention_window_s
    extra = ["--retain", f"{window}s", "--retain-interval", str(max(window / 5, 0.2))]
    target = await start_server(db, extra_args=[*ctx.server_args, *extra])
    sizes: list[tuple[int, int]] = []
    held: list[int] = []
    steps: list[float] = []
    try:
        prefix = f"pl-{ctx.run_tag}-"
        await register_fleet(target.url, [bench_vm_id(prefix, i) for i in range(s.heartbeat_vms)])
        ctx.say(f"P16: {s.retention_windows} windows of {window:g} s of steady heartbeats")
        load = asyncio.create_task(
            run_wrk(
                ctx.wrk,
                target.url,
                script="per_vm.lua",
                script_args=[prefix, str(s.heartbeat_vms)],
                connections=max(1, s.connections // 8),
                threads=1,
                duration_s=window * s.retention_windows + 1,
            )
        )
        for _ in range(s.retention_windows):
            await asyncio.sleep(window)
            sizes.append(_file_bytes(db))
            held.append(await _held(target))
            steps.append(await _metric(target, "vm_registry_retention_last_step_seconds"))
        await load
    finally:
        await target.stop()
    return sizes, held, [round(seconds, 3) for seconds in steps]
