"""P7: how long the server takes to be ready on a long log, with no snapshot.

Cold start is the time from spawning `vm-registry serve` to its first healthy `GET /health`.
Part of that is Python importing the server, which has nothing to do with the log, so each
run also starts a server on an empty log, and the figure is the difference: the cost of the
log. The reference is `reference.raw_fold` on the same file, timed in the same run. Each start
uses a fresh copy of the generated log, since a server may write to it (a snapshot on clean
shutdown, for one). The peer keeps no log, so it has no figure here.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from ops.bench.context import Context
from ops.bench.http1 import fetch
from ops.bench.logs import heartbeat_log, now_ms, write_log
from ops.bench.outcome import FAILED, Outcome, median, rounded
from ops.bench.reference import time_raw_fold
from ops.bench.scenarios import outcome
from ops.bench.server import start_server

NUMBERS = (7,)


class WrongState(Exception):
    pass


async def run(ctx: Context) -> list[Outcome]:
    s = ctx.settings
    plain = outcome(7, s)
    chosen = [plain]
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
        ctx.say(f"P7: run {number + 1}/{s.runs}")
        seconds, _, fleet = await asyncio.to_thread(time_raw_fold, log)
        references.append(seconds)
        empties.append(await _ready_time(folder / f"empty-{number}.db", None, 0))
        try:
            fulls.append(await _ready_time(folder / f"plain-{number}.db", log, fleet))
        except WrongState as error:
            plain.status, plain.note = FAILED, str(error)
            return chosen
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


def _copy_log(source: Path, destination: Path) -> None:
    # Whatever a closed store left in a WAL file goes into the main file before the copy.
    connection = sqlite3.connect(source)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    shutil.copyfile(source, destination)
