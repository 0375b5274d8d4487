"""Faults injected into the database from another process, under a running server.

- A trigger that aborts every insert into the log (an I/O error, as SQLite reports it): writes
  answer 503, nothing changes, and dropping the trigger lets writes resume, with no restart.
- Another process holding the write lock (a backup, an operator's shell): writes wait for the
  store's busy timeout (2 s), then answer 503. No request hangs; after the release writes work.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.faults import audit
from tests.support.server import ServerProcess

# The store waits 2 s for a lock; a request must come back well within this.
BOUND = 10.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("store-faults") / "registry.db").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def http(live: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


@contextlib.contextmanager
def other_process(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection of this test process: a different process from the server's."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=BOUND)
    try:
        yield conn
    finally:
        conn.close()


def snapshot(http: httpx.Client) -> tuple[int, dict[str, dict[str, object]]]:
    return http.get("/health").json()["revision"], audit.comparable(audit.projection(http))


def test_an_injected_fault_refuses_writes_and_changes_nothing(
    live: ServerProcess, http: httpx.Client
) -> None:
    assert http.post("/registry/vms", json=vm("trigger-1")).status_code == 201
    before = snapshot(http)
    with other_process(live.db) as conn:
        conn.execute(
            "CREATE TRIGGER inject BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
        try:
            attempts = [
                http.post("/registry/vms", json=vm("trigger-2")),
                http.patch("/registry/vms/trigger-1", json={"name": "renamed"}),
                http.post("/registry/vms/trigger-1/heartbeat"),
                http.delete("/registry/vms/trigger-1"),
            ]
            for answer in attempts:
                assert answer.status_code == 503, answer.text
                assert "injected fault" in answer.json()["error"]
            assert snapshot(http) == before
            assert http.get("/registry/discover/worker").status_code == 200
        finally:
            conn.execute("DROP TRIGGER inject")
    assert http.post("/registry/vms", json=vm("trigger-2")).status_code == 201
    assert http.patch("/registry/vms/trigger-1", json={"name": "renamed"}).status_code == 200
    events = audit.all_events(http)
    audit.assert_gap_free(events)
    assert [e["vmId"] for e in events[-2:]] == ["trigger-2", "trigger-1"]
    audit.verify(live.db)
    assert audit.comparable(audit.replay(live.db)) == audit.comparable(audit.projection(http))


def test_a_locked_database_answers_503_within_a_bound_never_hangs(
    live: ServerProcess, http: httpx.Client
) -> None:
    before = snapshot(http)
    with other_process(live.db) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            # Batches queued behind the lock each wait the busy timeout: three writers, in at
            # most three batches, stay well inside the bound.
            with ThreadPoolExecutor(max_workers=3) as pool:
                answers = list(
                    pool.map(lambda n: http.post("/registry/vms", json=vm(f"locked-{n}")), range(3))
                )
            elapsed = time.monotonic() - started
            assert [a.status_code for a in answers] == [503] * 3, [a.text for a in answers]
            assert all("locked" in a.json()["error"] for a in answers)
            assert elapsed < BOUND, f"writes waited {elapsed:.1f} s for the lock"
            # Reads do not wait for the lock at all.
            assert snapshot(http) == before
        finally:
            conn.execute("ROLLBACK")
    assert http.post("/registry/vms", json=vm("locked-0")).status_code == 201
    audit.assert_gap_free(audit.all_events(http))


def test_a_refused_write_does_not_reveal_the_database_path(tmp_path: Path) -> None:
    """The 503 says why (SQLite's own words) but not where: paths stay in the server log."""
    server = ServerProcess(tmp_path / "registry.db").start()
    try:
        with sqlite3.connect(tmp_path / "registry.db") as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON events "
                "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            )
        answer = httpx.post(f"{server.url}/registry/vms", json=vm("hidden-path"), timeout=10)
        assert answer.status_code == 503
        assert "injected fault" in answer.json()["error"]
        assert str(tmp_path) not in answer.text
    finally:
        server.kill()
