"""Retention gives space back on SQLite (issue #23): the file stops growing under a steady load,
shrinks after a tighter policy, and a log created without incremental auto-vacuum is converted
when the server starts."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx

from tests.conftest import vm
from tests.retention.run import Beats, retained, server, wait_for
from tests.support import backend
from tests.support.server import ServerProcess

pytestmark = backend.sqlite_only_because("measures the SQLite file; PostgreSQL has autovacuum")


def auto_vacuum(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])


def test_the_file_plateaus_under_steady_writes(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    live = server(db, None, "--retain-interval", "0.1").start()
    sizes: list[int] = []
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for name in ("vm-a", "vm-b"):
                assert http.post("/registry/vms", json=vm(name)).status_code == 201
            with Beats(live.url, ["vm-a", "vm-b"]):
                # Ten retention windows' worth of dropped events, the size after each window.
                for window in range(1, 11):
                    wait_for(lambda w=window: retained(http)["droppedEvents"] > 2000 * w, 120)
                    sizes.append(db.stat().st_size)
    finally:
        live.kill()
    steady = sizes[2:]
    # 20,000 heartbeats take about 1.4 MB as rows; the file holds one window's worth.
    assert max(steady) <= 1.1 * min(steady) + 64 * 4096, sizes


def test_the_file_shrinks_after_a_tighter_policy(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    live = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
            with Beats(live.url, ["vm-a"]):
                wait_for(lambda: http.get("/health").json()["head"] > 10_000, 120)
        live.stop()
    finally:
        live.kill()
    assert auto_vacuum(db) == 2  # a new log is created ready to give space back
    before = db.stat().st_size
    live = server(db, None, "--retain-events", "100", "--retain-interval", "0.1").start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            head = http.get("/health").json()["head"]
            wait_for(lambda: retained(http)["oldestSeq"] >= head - 100, 120)
        live.stop()
    finally:
        live.kill()
    assert db.stat().st_size < before / 2


def test_an_old_log_is_converted_to_incremental_auto_vacuum_at_startup(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    live = ServerProcess(db).start()
    live.stop()
    with closing(sqlite3.connect(db)) as conn:  # as a log from an earlier release was made
        conn.execute("PRAGMA auto_vacuum = NONE")
        conn.execute("VACUUM")
    assert auto_vacuum(db) == 0
    live = server(db, None).start()
    try:
        assert "converted" in live.output() and "incremental auto-vacuum" in live.output()
        live.stop()
    finally:
        live.kill()
    assert auto_vacuum(db) == 2
