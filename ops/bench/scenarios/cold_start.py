"""Scenarios 5 and 6: how long the server takes to be ready on a long log.

Cold start is the time from spawning `vm-registry serve` to its first healthy `GET /health`.
Part of that is Python importing the server, which has nothing to do with the log, so each
run also starts a server on an empty log, and the figure is the difference: the cost of the
log. The reference is `reference.raw_fold` on the same file. Each start uses a fresh copy of
the generated log, since a server may write to it (a snapshot on clean shutdown, for one).

Snapshots are found, not assumed: a `vm-registry snapshot` command is used when the CLI has
one; otherwise a server is started on the log, sent one heartbeat and stopped cleanly, which is
when a snapshotting server writes one. If no table named like `snapshot` then holds a row,
scenario 6 is reported as not built. A tail of heartbeats is then appended, so the snapshot is
recent, not exact.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.logs import ACTOR, heartbeat_log, now_ms, uuid_like, write_log
from ops.bench.outcome import FAILED, NOT_BUILT, Outcome, median, rounded
from ops.bench.reference import time_raw_fold
from ops.bench.scenarios import outcome
from ops.bench.server import cli_commands, serve_command, start_server
from vm_registry.persistence.store import NewEvent

NUMBERS = (5, 6)


class WrongState(Exception):
    pass


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    plain, snapshotted = outcome(5, s), outcome(6, s)
    chosen = [o for o in (plain, snapshotted) if ctx.wants(o.number)]
    if ctx.url is not None:
        return [o.skip("needs a server the harness starts itself, not --url") for o in chosen]
    folder = ctx.workdir / "cold"
    folder.mkdir(exist_ok=True)
    log = folder / "log.db"
    ctx.say(f"writing a log of {s.log_events:,} events over {s.log_vms:,} VMs")
    start = now_ms() - s.log_events
    await write_log(log, heartbeat_log(s.log_events, s.log_vms, s.heartbeat_share, start))
    references, empties, fulls = [], [], []
    fleet = 0
    for number in range(s.runs):
        ctx.say(f"scenario 5: run {number + 1}/{s.runs}")
        seconds, _, fleet = await asyncio.to_thread(time_raw_fold, log)
        references.append(seconds)
        empties.append(await _ready_time(folder / f"empty-{number}.db", None, 0))
        try:
            fulls.append(await _ready_time(folder / f"plain-{number}.db", log, fleet))
        except WrongState as error:
            plain.status, plain.note = FAILED, str(error)
            return chosen
    empty_s = median(empties)
    plain.figure = rounded(median([f - e for f, e in zip(fulls, empties, strict=True)]), 3)
    plain.unit = "s replay"
    plain.reference, plain.reference_unit = rounded(median(references), 3), "s raw fold"
    plain.ratio = rounded(plain.figure / plain.reference)
    plain.met = plain.ratio <= 1.3
    plain.details = {
        "ready_s": [rounded(t) for t in fulls],
        "empty_log_ready_s": [rounded(t) for t in empties],
        "raw_fold_s": [rounded(t) for t in references],
        "events": s.log_events,
        "vms": fleet,
    }
    if ctx.wants(6):
        await _snapshotted(ctx, snapshotted, log, fleet, plain.figure, empty_s)
    return chosen


async def _ready_time(db: Path, source: Path | None, fleet: int) -> float:
    if source is not None:
        _copy_log(source, db)
    target = await start_server(db)
    try:
        assert target.ready_after_s is not None
        listing = (await fetch(target.url, "/registry/vms")).json()
        count = listing.get("count") if isinstance(listing, dict) else None
        if count != fleet:
            raise WrongState(f"after start, /registry/vms counted {count}, the log holds {fleet}")
        return target.ready_after_s
    finally:
        await target.stop()
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()


async def _snapshotted(
    ctx: Context, result: Outcome, log: Path, fleet: int, plain_s: float, empty_s: float
) -> None:
    s = ctx.settings
    snapshot_db = log.with_name("snapshot.db")
    _copy_log(log, snapshot_db)
    how = await _make_snapshot(snapshot_db, uuid_like(0))
    if how is None:
        result.skip("the server wrote no snapshot: no snapshot table holds a row", NOT_BUILT)
        return
    head_at = now_ms()
    tail = (
        NewEvent(type="vm.heartbeat", vm_id=uuid_like(i % s.log_vms), at=head_at, actor=ACTOR)
        for i in range(s.snapshot_tail)
    )
    await write_log(snapshot_db, tail)
    timings = []
    for number in range(s.runs):
        ctx.say(f"scenario 6: run {number + 1}/{s.runs}")
        try:
            copy = log.with_name(f"snap-{number}.db")
            timings.append(await _ready_time(copy, snapshot_db, fleet))
        except WrongState as error:
            result.status, result.note = FAILED, str(error)
            return
    result.figure = rounded(median(timings) - empty_s, 3)
    result.unit = "s replay"
    result.reference, result.reference_unit = plain_s, "s scenario 5"
    result.ratio = rounded(result.figure / plain_s)
    result.met = result.ratio <= 0.15
    result.details = {"snapshot": how, "tail_events": s.snapshot_tail, "ready_s": timings}


async def _make_snapshot(db: Path, vm_id: str) -> str | None:
    if "snapshot" in cli_commands():
        process = await asyncio.create_subprocess_exec(
            *serve_command(), "snapshot", "--db", str(db),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await process.wait()
        how = "vm-registry snapshot"
    else:
        # A server may only snapshot on shutdown when it has appended something since it
        # started, so one heartbeat goes in first.
        target = await start_server(db)
        try:
            await fetch(target.url, f"/registry/vms/{vm_id}/heartbeat", "POST")
        finally:
            await target.stop()
        how = "clean shutdown of the server, after one heartbeat"
    return how if _snapshot_rows(db) else None


def _copy_log(source: Path, destination: Path) -> None:
    # Whatever a closed store left in a WAL file goes into the main file before the copy.
    connection = sqlite3.connect(source)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    shutil.copyfile(source, destination)


def _snapshot_rows(db: Path) -> int:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if "snapshot" in name.lower()
        ]
        return sum(connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    finally:
        connection.close()
