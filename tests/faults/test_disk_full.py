"""A full disk under a running server: the database on a 2 MiB tmpfs, filled up by a stranger.

Writes must answer 503 `{"error": ...}`, reads and streams must keep working from the
projection, the projection must not move ahead of the log, and once space is freed writes must
resume without a restart.
"""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.faults import audit
from tests.faults.watch import Watcher
from tests.support.backend import sqlite_only_because
from tests.support.server import ServerProcess
from tests.telemetry.scrape import scrape, value

pytestmark = sqlite_only_because(
    "fills the tmpfs the SQLite file lives on. A PostgreSQL log's disk is its server's: a table "
    "that cannot grow fails the write with an error the store answers 503 for, as any refused "
    "insert (test_store_faults' injected fault on PostgreSQL), and a full pg_wal stops the "
    "server (tests/replicas/test_postgres_faults.py stops it under load)"
)

REFUSED = "vm_registry_writer_commands_refused_total"
CHUNKS = (64 * 1024, 4096, 512, 64, 1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        timeout=10,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=10)


def fill(path: Path) -> int:
    """Write until the disk refuses even a single byte; return how much was written."""
    written = 0
    with path.open("ab", buffering=0) as file:
        for size in CHUNKS:
            block = b"\xff" * size
            while True:
                try:
                    written += file.write(block) or 0
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    return written


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers(small_disk: Path) -> None:
    db = small_disk / "registry.db"
    server = ServerProcess(db, args=["--keepalive", "0.5", "--snapshot-every", "0"]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(5):
                assert http.post("/registry/vms", json=vm(f"before-{n}")).status_code == 201
            with Watcher(server.url) as watcher:
                assert fill(small_disk / "filler") > 0
                refused = 0
                for n in range(200):
                    answer = http.post("/registry/vms", json=vm(f"full-{n}"))
                    if answer.status_code == 503:
                        refused += 1
                        body = answer.json()
                        assert set(body) == {"error"} and "unavailable" in body["error"], body
                        assert answer.headers.get("retry-after")
                        if refused == 5:
                            break
                    else:
                        assert answer.status_code == 201, answer.text
                assert refused == 5, "the full disk never refused a write"
                # What an operator's alert sees (docs/operations.md, VmRegistryWriter503s), and
                # the writer's log line names the refused requests.
                figures = scrape(http)
                assert value(figures, REFUSED, reason="unavailable") == refused
                failed = [line for line in server.output().splitlines() if "append failed" in line]
                assert failed and all('"requestId":' in line for line in failed)

                # Reads answer from the projection; the log still answers too.
                listed = audit.projection(http)
                assert http.get("/registry/discover/worker").status_code == 200
                assert http.get("/health").json()["status"] == "ok"
                events = audit.all_events(http)
                # The projection is exactly the log: nothing refused reached either.
                assert max(vm["revision"] for vm in listed.values()) <= events[-1]["seq"]
                assert http.get("/health").json()["revision"] == events[-1]["seq"]
                assert audit.comparable(audit.replay(db)) == audit.comparable(listed)
                # A new stream opens on a full disk, and the old one still gets pings.
                with Watcher(server.url) as late:
                    pings = watcher.comments
                    time.sleep(1.2)
                    assert watcher.comments > pings, "the open stream went quiet"

                    (small_disk / "filler").unlink()
                    recovered = http.post("/registry/vms", json=vm("after-recovery"))
                    assert recovered.status_code == 201, recovered.text
                    seq = recovered.json()["revision"]
                    assert watcher.wait_for(seq) and late.wait_for(seq)
                    assert [e["seq"] for e in watcher.events] == [
                        e["seq"] for e in audit.all_events(http) if e["seq"] > 5
                    ]
            before_restart = audit.comparable(audit.projection(http))
        server.kill()
        server = ServerProcess(db).start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert audit.comparable(audit.projection(http)) == before_restart
        audit.verify(db)
    finally:
        server.kill()
