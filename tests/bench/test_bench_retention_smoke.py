"""P16 end to end on tiny sizes (with wrk installed): heartbeats on two servers, one dropping
an old log under retention, then the plateau windows. It asserts that it ran, not a figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ops.bench.outcome import Outcome
from ops.bench.run import bench
from ops.bench.settings import SMOKE

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


async def test_a_tiny_retention_run_produces_a_complete_result(tmp_path: Path) -> None:
    report = await bench(SMOKE, frozenset({16}), results_dir=tmp_path, install_wrk=False)
    (result,) = [Outcome(**raw) for raw in report["scenarios"]]
    assert (result.number, result.status) == (16, "ok"), result.note
    assert result.met in (True, False)
    assert result.details["dropped_total"] > 0
    assert len(result.details["plateau_bytes"]) == SMOKE.retention_windows
    # The database and its WAL apart, to tell which of them moved.
    details = result.details
    assert [len(details["plateau_db_bytes"]), len(details["plateau_wal_bytes"])] == [
        SMOKE.retention_windows
    ] * 2
