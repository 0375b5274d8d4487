"""Issue #11, 2, and a compaction cut short: the log file itself going wrong under a server.

- With `registry.db*` deleted under a running server, writes went on getting 201 and `/health`
  said "ok"; after a restart the log was a new, empty one and every acknowledged VM was gone,
  silently. Now the server notices before the next acknowledgement: writes answer 503, health
  answers 503, and the server log names the file. A start on an empty path says, in the log,
  that a new empty log was created.
- A crash between the chunked deletes of a compaction left rows below the cut that nothing
  reads. The next start removes them.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import vm
from tests.support.answers import error_of
from tests.support.backend import sqlite_only
from tests.support.server import ServerProcess

pytestmark = sqlite_only


def test_a_deleted_log_refuses_writes_and_fails_health(tmp_path: Path) -> None:
    db = tmp_path / "d" / "r.db"
    db.parent.mkdir()
    server = ServerProcess(db).start()
    try:
        assert "created a new, empty event log" in server.output()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/registry/vms", json=vm("v1")).status_code == 201
            for path in db.parent.glob("r.db*"):
                path.unlink()
            assert "deleted" in error_of(http.get("/health"), 503)
            message = error_of(http.post("/registry/vms", json=vm("v2")), 503)
            assert "deleted" in message and str(db) not in message
            error_of(http.post("/registry/vms/v1/heartbeat"), 503)
            assert http.get("/registry/vms/v2").status_code == 404  # nothing applied
            assert f"the event log {db} was deleted" in server.output()
    finally:
        server.kill()
    again = ServerProcess(db).start()
    try:
        # A new log, and the server says so rather than pretending nothing happened.
        assert "created a new, empty event log" in again.output()
    finally:
        again.kill()


def test_a_log_replaced_under_the_server_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    server = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/registry/vms", json=vm("v1")).status_code == 201
            shutil.copy(db, tmp_path / "copy.db")
            (tmp_path / "copy.db").replace(db)  # another file, same path
            assert "replaced" in error_of(http.post("/registry/vms", json=vm("v2")), 503)
            assert "replaced" in error_of(http.get("/health"), 503)
    finally:
        server.kill()


def test_an_existing_log_is_not_reported_as_new(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    first = ServerProcess(db).start()
    first.stop()
    again = ServerProcess(db).start()
    try:
        assert "created a new, empty event log" not in again.output()
    finally:
        again.kill()


def test_rows_left_below_an_interrupted_compactions_cut_are_removed_at_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "r.db"
    server = ServerProcess(db, args=["--snapshot-every", "10"]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/registry/vms", json=vm("c")).status_code == 201
            for _ in range(24):
                assert http.post("/registry/vms/c/heartbeat").status_code == 200
            before = http.get("/registry/vms").json()
    finally:
        server.stop()
    # What a compaction through a snapshot's seq commits first, then its first chunk of
    # deletes, and then the crash: rows 6..cut stay behind the recorded cut. (Which snapshots
    # exist depends on timing: one in flight makes the snapshotter skip a turn.)
    with sqlite3.connect(db) as conn:
        seqs = [row[0] for row in conn.execute("SELECT seq FROM snapshots WHERE seq >= 10")]
        cut = min(seqs)
        conn.execute("DELETE FROM snapshots WHERE seq < ?", (cut,))
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_through', ?)", (str(cut),)
        )
        conn.execute("DELETE FROM events WHERE seq <= 5")
    server = ServerProcess(db).start()
    try:
        assert f"removed {cut - 5} events at or below seq {cut}" in server.output()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/registry/vms").json() == before
    finally:
        server.kill()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE seq <= ?", (cut,)).fetchone()[0] == 0
        assert conn.execute("SELECT MIN(seq) FROM events").fetchone()[0] == cut + 1
    verify = subprocess.run(
        [sys.executable, "-m", "vm_registry.cli.main", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
