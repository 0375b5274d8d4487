"""The PostgreSQL scenarios (P9 to P12) end to end, tiny, against the real PostgreSQL server.

The harness creates a database of its own on that server, starts replicas on it and on one
SQLite file, measures both and drops the database. Nothing here asserts a figure.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from ops.bench.outcome import Outcome
from ops.bench.run import bench, selection
from ops.bench.settings import SMOKE
from ops.bench.wrk import ensure_wrk

from tests.support import requires


async def test_the_postgres_scenarios_run_tiny_and_leave_no_database(tmp_path: Path) -> None:
    server = requires.postgres_url()
    wrk, _ = ensure_wrk(install=False)
    before = await _bench_databases(server)

    report = await bench(
        SMOKE, frozenset({9, 10, 11, 12}), results_dir=tmp_path, install_wrk=False,
        postgres_url=server,
    )  # fmt: skip

    results = {raw["number"]: Outcome(**raw) for raw in report["scenarios"]}
    assert sorted(results) == [9, 10, 11, 12]
    feed = results[12]
    assert feed.status == "ok", feed.note
    assert feed.p99_ms is not None and feed.reference is not None and feed.ratio is not None
    (run,) = feed.details["postgres"]
    assert run["sent"] > 0 and run["seen"] == run["sent"], run
    for number in (9, 10, 11):
        result = results[number]
        if wrk is None:
            assert result.status == "skipped"
            continue
        assert result.status == "ok", result.note
        assert result.figure and result.reference and result.ratio is not None
    assert await _bench_databases(server) <= before  # its database was dropped


async def _bench_databases(server: str) -> set[str]:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'vmreg_bench_%'"
        )
    finally:
        await conn.close()
    return {row["datname"] for row in rows}


def test_the_default_selection_leaves_postgres_out() -> None:
    assert not selection(None) & {9, 10, 11, 12}
    assert {9, 10, 11, 12} <= selection(None, with_postgres=True)
