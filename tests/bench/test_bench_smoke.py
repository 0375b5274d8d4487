"""The benchmark harness, end to end on one tiny scenario: it works, whatever the speed.

P8 needs no wrk and no peer: the harness starts a real server, registers VMs, runs watchers
(one VM each) in their own process, publishes paced heartbeats and writes the results file.
Nothing here asserts a figure; `make bench` is where figures are judged.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from ops.bench import table
from ops.bench.outcome import Outcome
from ops.bench.run import bench
from ops.bench.settings import SMOKE


async def test_a_tiny_fanout_run_produces_a_complete_result(tmp_path: Path) -> None:
    report = await bench(SMOKE, frozenset({8}), results_dir=tmp_path, install_wrk=False)

    assert {"machine", "sizes", "scenarios", "table", "file", "started_at"} <= set(report)
    saved = orjson.loads(Path(report["file"]).read_bytes())
    assert saved["scenarios"] == report["scenarios"]
    (result,) = [Outcome(**raw) for raw in saved["scenarios"]]
    assert (result.number, result.status) == (8, "ok"), result.note
    assert result.met in (True, False)
    assert result.p50_ms is not None and result.p99_ms is not None
    (run,) = result.details["runs"]
    assert run["subscribers"] == run["watchers"] == SMOKE.watchers
    assert run["deliveries"] > 0
    assert {"lost", "duplicates", "out_of_order", "latency_ms", "publisher"} <= set(run)
    assert run["server_cpu_us_per_event_raw"] > 0
    assert run["server_cpu_us_per_event"] >= 0  # net of what idle watchers cost
    (few,) = result.details["few_watchers_runs"]
    assert few["watchers"] == SMOKE.few_watchers
    assert "| P8 |" in report["table"] and "P8  fan-out" in table.render([result])


async def test_a_tiny_selector_fanout_run_delivers_to_every_selector_watcher(
    tmp_path: Path,
) -> None:
    report = await bench(SMOKE, frozenset({17}), results_dir=tmp_path, install_wrk=False)

    (result,) = [Outcome(**raw) for raw in report["scenarios"]]
    assert (result.number, result.status) == (17, "ok"), result.note
    assert result.met in (True, False)
    (run,) = result.details["runs"]
    assert run["subscribers"] == run["watchers"] == SMOKE.watchers
    assert run["deliveries"] > 0
    assert run["lost"] == run["duplicates"] == run["out_of_order"] == 0
    assert run["server_cpu_us_per_event_raw"] > 0
    assert "| P17 |" in report["table"]
