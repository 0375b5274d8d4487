"""P13, P14 and P15 end to end on tiny sizes: the reads group registers its fleet with the
discovered role, and the log-cost group compares two own servers. Nothing here asserts a
figure; `make bench` is where figures are judged. Needs wrk (skipped without it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ops.bench.outcome import Outcome
from ops.bench.run import bench
from ops.bench.settings import SMOKE

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


async def test_reads_and_log_cost_produce_their_figures(tmp_path: Path) -> None:
    report = await bench(SMOKE, frozenset({13, 14, 15}), results_dir=tmp_path, install_wrk=False)

    results = {o.number: o for o in (Outcome(**raw) for raw in report["scenarios"])}
    assert sorted(results) == [13, 14, 15]
    for result in results.values():
        assert result.status == "ok", result.note
        assert result.figure is not None and result.figure > 0
    assert results[14].details["answered"] == {"ours": SMOKE.role_vms}
    logs = results[15]
    assert logs.ratio is not None and logs.reference is not None  # logs on over logs off
    assert logs.details["log_bytes"] > 0
    assert "| P15 |" in report["table"]
