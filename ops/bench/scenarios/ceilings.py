"""The stack's ceiling beside P1 and P2: the same server with an app that does no work.

A figure is only a limit of ours once it is set beside what the same HTTP server gives an app
with nothing to do. Each ceiling is its own process (`ops/bench/ceiling_app.py`: uvicorn as
`vm-registry serve` runs it, one process) on a free loopback port, giving the answer our own
server gave to the same request, captured just before. It is measured in the same alternation
as the peer and ours (`alternate.py`), so all three figures of a run share the machine's load:

- C1, beside P1: a bare ASGI callable answering `GET /health` with ours' `/health` answer;
- C1L, beside P1: the same answer from a litestar `@asgi` route handler (litestar's router);
- C2, beside P2: a bare ASGI callable answering the heartbeat `POST` with ours' answer to one,
  the request's body read and dropped: the ceiling of any HTTP write on this stack;
- C2D, beside P2: C2 made durable the least this stack can: each request waits for its row to
  be group-committed through aiosqlite to a fresh SQLite file in the scratch directory, set up
  as our log is (WAL, the same `synchronous`); no projection, feed, validation or hash chain.
  The ceiling of any durable heartbeat here: ours/C2D is what our own work costs on top.

The ceilings are ASGI apps: the protocol's fast path (`cli/fast_path.py`), which answers ours'
plainest requests below ASGI, only takes requests for our own app, so it never answers for a
ceiling, and ours/ceiling above 1 means ours skipped ASGI, not that the ceiling is wrong.

A row's figure is the ceiling's rps; its ratio, as for every row, is over the peer
(ceiling/peer); ours/ceiling (the median of the per-run ratios) is in its note and details.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from ops.bench.alternate import OURS, PEER
from ops.bench.context import Context
from ops.bench.http1 import Response, fetch
from ops.bench.outcome import Outcome, median, rounded
from ops.bench.server import HOST, Target, free_port, launch
from ops.bench.settings import BenchSettings
from ops.bench.wrk import WrkResult

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Ceiling:
    caps: int  # the scenario it is measured beside
    title: str
    litestar: str | None = None  # a litestar @asgi route at this path instead of the bare app
    durable: bool = False  # the bare app, each request group-committed to a SQLite file


CEILINGS: dict[str, Ceiling] = {
    "C1": Ceiling(1, "ceiling of P1: bare ASGI GET /health on our server, c{connections}"),
    "C1L": Ceiling(
        1, "ceiling of P1: litestar @asgi GET /health on our server, c{connections}", "/health"
    ),
    "C2": Ceiling(2, "ceiling of P2: bare ASGI POST, no write, on our server, c{connections}"),
    "C2D": Ceiling(
        2,
        "ceiling of P2: bare ASGI POST, a row group-committed per request (aiosqlite), "
        "c{connections}",
        durable=True,
    ),
}
TARGET = "(reported: the stack's ceiling)"


def labels_for(number: int) -> list[str]:
    return [label for label, ceiling in CEILINGS.items() if ceiling.caps == number]


@contextlib.asynccontextmanager
async def beside(
    ctx: Context, number: int, ours: Target, method: str, path: str
) -> AsyncIterator[dict[str, Target]]:
    """The ceilings of scenario `number`, started on ours' answer to `method path` (none with
    `--no-ceilings`), and stopped on leaving."""
    started: dict[str, Target] = {}
    try:
        if ctx.ceilings:
            answer = await fetch(ours.url, path, method)
            for label in labels_for(number):
                started[label] = await start_ceiling(ctx, label, answer)
        yield started
    finally:
        for target in started.values():
            await target.stop()


async def start_ceiling(ctx: Context, label: str, answer: Response) -> Target:
    port = free_port()
    saved = ctx.workdir / f"ceiling-{label}.json"
    captured = {
        "status": answer.status,
        "headers": list(answer.headers.items()),
        "body": answer.body.decode(),
    }
    saved.write_bytes(orjson.dumps(captured))
    ceiling = CEILINGS[label]
    app = ["--litestar", ceiling.litestar] if ceiling.litestar else []
    if ceiling.durable:  # a fresh file: the port is new to this run
        app = ["--durable", str(durable_db(ctx.workdir, label, port))]
    command = [
        sys.executable, "-m", "ops.bench.ceiling_app", "--host", HOST, "--port", str(port),
        "--answer", str(saved), *app,
    ]  # fmt: skip
    target = Target(f"http://{HOST}:{port}", log=ctx.workdir / f"ceiling-{label}.{port}.log")
    ctx.say(f"{label}: the ceiling on {target.url}")
    await launch(
        target, command, cwd=ROOT, timeout=60, profile_dir=ctx.profile_dir, name=f"ceiling-{label}"
    )
    return target


def durable_db(workdir: Path, label: str, port: int) -> Path:
    return workdir / f"ceiling-{label}.{port}.db"


def rows(number: int, runs: dict[str, list[WrkResult]], settings: BenchSettings) -> list[Outcome]:
    """The ceiling rows of scenario `number`, from the runs they were measured in."""
    found = []
    for label in labels_for(number):
        if label in runs:
            found.append(row(label, runs[label], runs[OURS], runs.get(PEER), settings))
    return found


def row(
    label: str,
    ceiling: Sequence[WrkResult],
    ours: Sequence[WrkResult],
    peer: Sequence[WrkResult] | None,
    settings: BenchSettings,
) -> Outcome:
    number, title = CEILINGS[label].caps, CEILINGS[label].title
    sizes = {name: getattr(settings, name) for name in settings.__slots__}
    result = Outcome(number, title.format(**sizes), TARGET, label=label)
    result.figure, result.unit = rounded(median([m.rps for m in ceiling]), 1), "rps"
    result.p50_ms = rounded(median([m.p50_ms for m in ceiling]), 2)
    result.p99_ms = rounded(median([m.p99_ms for m in ceiling]), 2)
    under = rounded(median([o.rps / c.rps for o, c in zip(ours, ceiling, strict=True)]))
    result.details = {"ceiling": [m.to_json() for m in ceiling], "ours_over_ceiling": under}
    notes = [f"ours/ceiling {under:.2f} (P{number}'s ours over this, median of per-run ratios)"]
    if peer:
        result.reference, result.reference_unit = rounded(median([m.rps for m in peer]), 1), "rps"
        result.ratio = rounded(median([c.rps / p.rps for c, p in zip(ceiling, peer, strict=True)]))
    else:
        notes.append("no peer (--peer-url): no ceiling/peer")
    failed = sum(m.failed for m in ceiling)
    if failed:
        notes.append(f"{failed} of {sum(m.requests for m in ceiling)} requests failed")
    notes.append("one process")
    result.note = "; ".join(notes)
    return result
