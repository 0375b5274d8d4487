"""`make bench` / `python -m ops.bench.run`: run the scenarios, print the table, save the JSON.

    python -m ops.bench.run --peer-url http://127.0.0.1:3000   # P1-P8, P13-P17, ceilings
    python -m ops.bench.run                      # ours only: no ratios for P1 to P5
    python -m ops.bench.run --quick              # smaller sizes, one short run each
    python -m ops.bench.run --only 2,8           # some scenarios (P2 and P8)
    python -m ops.bench.run --url http://127.0.0.1:3001   # "ours" is a server already running

A scenario group that fails is reported as failed with its error, and the others still run.
The whole run is bounded by `--max-minutes`; every server, wrk and subscriber process it
started is stopped before it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ops.bench import machine, profile, table
from ops.bench.context import Context
from ops.bench.outcome import FAILED, Outcome
from ops.bench.scenarios import (
    CATALOGUE,
    cold_start,
    fanout,
    fleet,
    log_cost,
    outcome,
    postgres,
    reads,
    retention,
    selector_fanout,
    writes,
)
from ops.bench.settings import FULL, QUICK, BenchSettings
from ops.bench.wrk import ensure_wrk

# reads first: a fresh peer then holds only its fleet of a thousand (scenarios/reads.py)
GROUPS = (reads, writes, log_cost, retention, fleet, cold_start, fanout, selector_fanout, postgres)
NEEDS_WRK = frozenset({1, 2, 3, 4, 5, 9, 10, 11, 13, 14, 15, 16})
RESULTS = Path(__file__).with_name("results")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench ARGS=...", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--peer-url", help="the peer registry, measured alternately with ours (P1 to P6)"
    )
    parser.add_argument("--url", help="measure this server as ours instead of starting one")
    parser.add_argument(
        "--server-args",
        default="",
        help='more options for our own servers of P1 to P6, e.g. "--workers 2"',
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server (postgresql://...): adds P9 to P12, each over SQLite",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one short run each")
    parser.add_argument("--only", help="comma-separated scenario numbers, e.g. 2,8 or P2,P8")
    parser.add_argument(
        "--no-ceilings",
        action="store_true",
        help="leave out the ceiling rows (C1, C1L beside P1, C2, C2D beside P2)",
    )
    parser.add_argument("--runs", type=int, help="runs per figure (median reported)")
    parser.add_argument("--duration", type=float, help="seconds per wrk measurement")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    # The default selection took 24 minutes on two shared cores at a load of 4 to 11
    # (README.md); this bound is for a run that hangs, not a budget to fit in.
    parser.add_argument("--max-minutes", type=float, default=60.0)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="sample each own server with py-spy into DIR"
    )
    return parser.parse_args(argv)


def selection(only: str | None, with_postgres: bool = False) -> frozenset[int]:
    if not only:
        everything = frozenset(CATALOGUE)
        return everything if with_postgres else everything - set(postgres.NUMBERS)
    chosen = frozenset(int(part.strip().lstrip("Pp")) for part in only.split(",") if part.strip())
    unknown = chosen - set(CATALOGUE)
    if unknown:
        raise SystemExit(f"unknown scenario numbers: {sorted(unknown)}")
    return chosen


async def bench(
    settings: BenchSettings,
    selected: frozenset[int],
    *,
    url: str | None = None,
    peer_url: str | None = None,
    server_args: Sequence[str] = (),
    results_dir: Path = RESULTS,
    install_wrk: bool = True,
    keep: bool = False,
    profile_dir: Path | None = None,
    postgres_url: str | None = None,
    ceilings: bool = True,
) -> dict[str, Any]:
    """Run the selected scenarios and write the results file; returns what it wrote."""
    _raise_open_files_limit()
    wrk, wrk_note = (None, "")
    if selected & NEEDS_WRK:
        wrk, wrk_note = ensure_wrk(install=install_wrk)
        if wrk is None:
            print(f"note: {wrk_note}; the scenarios that need it are skipped", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="vm-registry-bench-"))
    ctx = Context(settings, workdir, selected, secrets.token_hex(3), url, wrk, wrk_note)
    ctx.profile_dir = profile_dir
    ctx.peer_url = peer_url.rstrip("/") if peer_url else None
    ctx.server_args = list(server_args)
    ctx.postgres_url = postgres_url
    ctx.ceilings = ceilings
    if profile_dir is not None and profile.py_spy() is None:
        print("note: py-spy is not installed (pip install py-spy); no profiles", file=sys.stderr)
        ctx.profile_dir = None
    started = datetime.now(UTC)
    outcomes: list[Outcome] = []
    try:
        for group in GROUPS:
            if not ctx.wants(*group.NUMBERS):
                continue
            try:
                outcomes += await group.run(ctx)
            except Exception as error:  # one broken group must not hide the others' figures
                ctx.say(f"scenarios {group.NUMBERS} failed: {error!r}")
                for number in group.NUMBERS:
                    if number in selected:
                        failed = outcome(number, settings)
                        failed.status, failed.note = FAILED, f"{type(error).__name__}: {error}"
                        outcomes.append(failed)
    finally:
        if keep:
            print(f"scratch directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    outcomes.sort(key=lambda o: (o.number, o.label))
    report = {
        "version": 1,
        "settings": settings.label,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": url or "own server (vm-registry serve on 127.0.0.1)",
        "peer": ctx.peer_url,
        "server_args": ctx.server_args,
        "runs": settings.runs,
        "duration_s": settings.duration_s,
        "machine": machine.describe(wrk),
        "sizes": {name: getattr(settings, name) for name in settings.__slots__},
        "scenarios": [o.to_json() for o in outcomes],
        "table": table.render(outcomes, markdown=True),
    }
    report["file"] = str(_save(report, results_dir, started, settings.label))
    return report


def _save(report: dict[str, Any], folder: Path, started: datetime, label: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = started.strftime("%Y-%m-%d") + ("" if label == "full" else f"-{label}")
    path = folder / f"{name}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    partial.replace(path)
    return path


def _raise_open_files_limit() -> None:
    # A thousand subscribers need a thousand sockets in the server and in the subscriber
    # process; both inherit this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.runs:
        settings = settings.scaled(runs=args.runs)
    if args.duration:
        settings = settings.scaled(duration_s=args.duration)
    selected = selection(args.only, with_postgres=args.postgres is not None)
    started = time.monotonic()

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(
            bench(
                settings,
                selected,
                url=args.url,
                peer_url=args.peer_url,
                server_args=args.server_args.split(),
                results_dir=args.results_dir,
                install_wrk=not args.no_install,
                keep=args.keep,
                profile_dir=args.profile,
                postgres_url=args.postgres,
                ceilings=not args.no_ceilings,
            ),
            args.max_minutes * 60,
        )

    report = asyncio.run(bounded())
    outcomes = [Outcome(**raw) for raw in report["scenarios"]]
    print()
    print(table.render(outcomes))
    print(
        f"\n{len(outcomes)} scenarios in {time.monotonic() - started:.0f} s on "
        f"{report['machine']['cores']} cores; results in {report['file']}"
    )
    missed = [o.number for o in outcomes if o.met is False]
    if missed:
        print(f"targets missed: {', '.join(map(str, missed))}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
