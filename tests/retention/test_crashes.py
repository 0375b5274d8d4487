"""kill -9 while retention runs loses nothing and leaves no half-written archive in the chain;
what a crash can leave behind (a `.partial` file, an archive whose cut never committed) is
left out by verify and removed by the next run (issue #23)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx

from tests.audit.logs import cli
from tests.conftest import vm
from tests.retention.run import Beats, retained, server, wait_for
from tests.support import backend

FAST = ["--retain-interval", "0.05", "--retain-step", "50"]


def test_kill_9_during_retention_loses_nothing(tmp_path: Path) -> None:
    db, archive = tmp_path / "registry.db", tmp_path / "archive"
    acked = 0
    rng = random.Random(23)
    for round_ in range(4):
        live = server(db, archive, *FAST).start()
        try:
            with httpx.Client(base_url=live.url, timeout=30) as http:
                if round_ == 0:
                    assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
                with Beats(live.url, ["vm-a"]) as beats:
                    wait_for(lambda: retained(http)["droppedEvents"] > 0)
                    time.sleep(rng.uniform(0.0, 0.5))  # somewhere in a run, maybe mid-step
                    live.kill()
                acked = max(acked, beats.acked)
        finally:
            live.kill()
    result = cli("verify", "--db", backend.target(db), "--archive-dir", str(archive))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "events 1.." in result.stdout
    head = int(result.stdout.split("head: ")[1].split(":")[0])
    assert head >= acked  # every acknowledged heartbeat is in the chain


def test_crash_leftovers_are_left_out_and_then_removed(tmp_path: Path) -> None:
    db, archive = tmp_path / "registry.db", tmp_path / "archive"
    live = server(db, archive).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
            with Beats(live.url, ["vm-a"]):
                wait_for(lambda: retained(http)["oldestSeq"] > 100)
        live.stop()
    finally:
        live.kill()
    first = int(cli("verify", "--db", backend.target(db)).stdout.split("head: ")[1].split(":")[0])
    # A step killed while writing, and one killed between its rename and its cut's commit.
    half = archive / f"events-{first:012d}-{first + 9:012d}.jsonl.gz.partial"
    half.write_bytes(b"\x1f\x8b half an archive")
    uncommitted = archive / f"events-{first:012d}-{first + 9:012d}.jsonl.gz"
    uncommitted.write_bytes(b"\x1f\x8b an archive whose cut never committed")
    result = cli("verify", "--db", backend.target(db), "--archive-dir", str(archive))
    assert result.returncode == 0, result.stderr
    assert f"archive {uncommitted}: left out, its cut never committed" in result.stdout
    live = server(db, archive).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            wait_for(lambda: not half.exists() and not uncommitted.exists())
    finally:
        live.kill()
