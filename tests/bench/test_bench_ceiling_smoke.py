"""The ceiling rows (C1, C1L beside P1, C2, C2D beside P2) end to end on tiny sizes, and the
ceiling app giving back the answer it was handed. Nothing here asserts a figure; `make bench`
is where figures are judged."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from ops.bench.context import Context
from ops.bench.http1 import Response, fetch
from ops.bench.outcome import Outcome
from ops.bench.run import bench
from ops.bench.scenarios.ceilings import durable_db, start_ceiling
from ops.bench.settings import SMOKE

ANSWER = Response(
    200,
    {"content-type": "application/json", "x-frame-options": "DENY", "date": "then"},
    b'{"status":"ok","revision":7}',
)


@pytest.mark.parametrize("label", ["C1", "C1L"])
async def test_a_ceiling_gives_back_the_answer_it_was_handed(tmp_path: Path, label: str) -> None:
    ctx = Context(SMOKE, tmp_path, frozenset(), "t")
    ceiling = await start_ceiling(ctx, label, ANSWER)
    try:
        answer = await fetch(ceiling.url, "/health")
        posted = await fetch(ceiling.url, "/health", "POST", {"ignored": "x" * 100_000})
    finally:
        await ceiling.stop()

    assert (answer.status, answer.body) == (200, ANSWER.body)
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["date"] != "then"  # the server's own, not replayed
    if label == "C1":  # the bare app answers any method; the litestar route only GET
        assert (posted.status, posted.body) == (200, ANSWER.body)
    assert ceiling.process is not None and ceiling.process.returncode is not None


async def test_the_durable_ceiling_answers_a_heartbeat_once_its_row_is_stored(
    tmp_path: Path,
) -> None:
    ctx = Context(SMOKE, tmp_path, frozenset(), "t")
    ceiling = await start_ceiling(ctx, "C2D", ANSWER)
    try:
        answer = await fetch(ceiling.url, "/registry/vms/vm-7/heartbeat", "POST")
        with sqlite3.connect(durable_db(tmp_path, "C2D", ceiling.port)) as db:
            stored = db.execute("SELECT vm, length(filler) FROM heartbeats").fetchall()
            journal = db.execute("PRAGMA journal_mode").fetchone()
    finally:
        await ceiling.stop()

    assert (answer.status, answer.body) == (200, ANSWER.body)
    assert answer.headers["x-frame-options"] == "DENY"
    assert stored == [("vm-7", 64)]
    assert journal == ("wal",)
    assert ceiling.process is not None and ceiling.process.returncode is not None
    assert ceiling.log is not None and "Traceback" not in ceiling.log.read_text()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
async def test_the_ceilings_are_measured_beside_p1_and_p2(tmp_path: Path) -> None:
    report = await bench(SMOKE, frozenset({1, 2}), results_dir=tmp_path, install_wrk=False)

    results = {o.name: o for o in (Outcome(**raw) for raw in report["scenarios"])}
    assert list(results) == ["P1", "C1", "C1L", "P2", "C2", "C2D"]
    for name in ("C1", "C1L", "C2", "C2D"):
        result = results[name]
        assert result.status == "ok", result.note
        assert result.figure is not None and result.figure > 0
        assert result.details["ours_over_ceiling"] > 0
        assert result.ratio is None  # no peer here
        assert f"| {name} |" in report["table"]
    assert results["C2"].number == results["C2D"].number == 2
