"""Faults injected into the database from another process, under a running server, on the
suite's backend (the SQLite file, or the PostgreSQL database standing for it).

- A trigger that aborts every insert into the log (an I/O error, as the database reports it):
  writes answer 503, nothing changes, and dropping the trigger lets writes resume, with no
  restart. The 503 gives the cause but never where the log is: no path, no URL, no password.
- Another session holding the log's write lock (a backup, an operator's shell): writes wait
  for the store's bound (SQLite's busy timeout, 2 s; PostgreSQL's `lock_timeout` on the head
  row, 5 s), then answer 503. No request hangs; after the release writes work.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from tests.conftest import vm
from tests.faults import audit
from tests.support import backend
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess

# Writes wait at most the store's lock bound per batch (2 s on SQLite, 5 s on PostgreSQL); three
# writers, in at most three batches, must come back well within this.
BOUND = 25.0 if backend.ON_POSTGRES else 10.0
# What each backend says when it gave up waiting for the lock.
LOCKED = "lock timeout" if backend.ON_POSTGRES else "locked"

# Every insert into the log aborts with "injected fault", and the statements that undo it.
if backend.ON_POSTGRES:
    INJECT = (
        "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; "
        "CREATE TRIGGER inject BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION inject()"
    )
    REMOVE = "DROP TRIGGER inject ON events; DROP FUNCTION inject()"
else:
    INJECT = (
        "CREATE TRIGGER inject BEFORE INSERT ON events "
        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
    )
    REMOVE = "DROP TRIGGER inject"


live = server_fixture("store-faults")


http = http_fixture("live", timeout=30, scope="function")


@contextlib.contextmanager
def refusing_inserts(db: Path) -> Iterator[None]:
    backend.execute(db, INJECT)
    try:
        yield
    finally:
        backend.execute(db, REMOVE)


@contextlib.contextmanager
def holding_the_write_lock(db: Path) -> Iterator[None]:
    """Another session (of this test process, not the server's) holds the log's write lock."""
    if not backend.ON_POSTGRES:
        conn = sqlite3.connect(db, isolation_level=None, timeout=BOUND)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    # asyncpg, on a loop of its own in a thread of its own: this test is synchronous.
    with ThreadPoolExecutor(1) as thread:
        runner = asyncio.Runner()

        def run(step: Coroutine[Any, Any, Any]) -> Any:
            return thread.submit(runner.run, step).result(timeout=BOUND)

        try:
            pg = run(asyncpg.connect(backend.target(db), timeout=10))
            try:
                run(pg.execute("BEGIN"))
                run(pg.execute("SELECT seq FROM log_head FOR UPDATE"))  # the head row's lock
                yield
                run(pg.execute("ROLLBACK"))
            finally:
                run(pg.close())
        finally:
            thread.submit(runner.close).result(timeout=BOUND)


def snapshot(http: httpx.Client) -> tuple[int, dict[str, dict[str, object]]]:
    return http.get("/health").json()["revision"], audit.comparable(audit.projection(http))


def test_an_injected_fault_refuses_writes_and_changes_nothing(
    live: ServerProcess, http: httpx.Client
) -> None:
    assert http.post("/registry/vms", json=vm("trigger-1")).status_code == 201
    before = snapshot(http)
    with refusing_inserts(live.db):
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
    with holding_the_write_lock(live.db):
        started = time.monotonic()
        # Batches queued behind the lock each wait the store's bound: three writers, in at
        # most three batches, stay well inside BOUND.
        with ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(
                pool.map(lambda n: http.post("/registry/vms", json=vm(f"locked-{n}")), range(3))
            )
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [503] * 3, [a.text for a in answers]
        assert all(LOCKED in a.json()["error"] for a in answers), [a.text for a in answers]
        assert elapsed < BOUND, f"writes waited {elapsed:.1f} s for the lock"
        # Reads do not wait for the lock at all.
        assert snapshot(http) == before
    assert http.post("/registry/vms", json=vm("locked-0")).status_code == 201
    audit.assert_gap_free(audit.all_events(http))


def test_a_refused_write_does_not_reveal_where_the_log_is(tmp_path: Path) -> None:
    """The 503 says why (the database's own words) but not where: a file's path, a database's
    URL, name and password stay in the server log (the password not even there)."""
    db = tmp_path / "registry.db"
    secrets = {str(tmp_path)}
    target = None
    if backend.ON_POSTGRES:
        # The suite's database with a password in its URL (trust auth lets any through).
        parts = urlsplit(backend.target(db))
        password = "hunter2-not-for-clients"
        netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
        target = parts._replace(netloc=netloc).geturl()
        secrets |= {target, password, parts.path.lstrip("/")}
    server = ServerProcess(db, target=target).start()
    try:
        backend.execute(db, INJECT)
        answer = httpx.post(f"{server.url}/registry/vms", json=vm("hidden-path"), timeout=10)
        assert answer.status_code == 503
        assert "injected fault" in answer.json()["error"]
        assert not [secret for secret in secrets if secret in answer.text], answer.text
        if backend.ON_POSTGRES:
            # The server log names the database, with the password masked.
            assert f"{parts.username}:***@" in server.output()
            assert password not in server.output()
    finally:
        server.kill()
