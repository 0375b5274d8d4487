"""`vm-registry backup | restore` as operators run them: subprocesses, on the registry a real
server is writing (a SQLite file, or under `make test-postgres` a PostgreSQL database), and on
the real PostgreSQL server.

On PostgreSQL a backup is a pg_dump archive, and restoring is pg_restore's job, as
docs/operations.md tells operators: the tests that ask what a backup holds, or whether it
serves, restore the archive the documented way first. `vm-registry restore` writes SQLite files
only, so its refusals are tested on SQLite alone.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.audit.logs import cell
from tests.cli.conftest import run_cli
from tests.conftest import vm
from tests.support import backend, postgres, requires
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

# `vm-registry restore` refuses a postgresql:// target (test_postgresql_backup_... below).
restore_is_sqlite_only = backend.sqlite_only_because(
    "vm-registry restore writes SQLite files only; PostgreSQL restores with pg_restore"
)


def events_in(path: Path) -> int:
    # closing(): a connection left open would make the file look in use to `restore`.
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def pg_restore(backup: Path, url: str) -> None:
    """Load a pg_dump archive into the database at `url`, as docs/operations.md says to."""
    tool = requires.executable("pg_restore", install="apt-get install postgresql-client")
    done = subprocess.run(
        [tool, "--no-owner", f"--dbname={url}", str(backup)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def opened(backup: Path) -> Iterator[str]:
    """A `--db` holding what `backup` holds: the SQLite copy itself, or a fresh PostgreSQL
    database the pg_dump archive is restored into."""
    if not backend.ON_POSTGRES:
        yield str(backup)
        return
    with postgres.fresh_database("restored") as url:
        pg_restore(backup, url)
        yield url


def events_held(backup: Path) -> int:
    with opened(backup) as db:
        return int(cell(db, "SELECT count(*) FROM events"))


def register(url: str, count: int, prefix: str = "vm") -> list[str]:
    ids = [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with httpx.Client(base_url=url, timeout=10) as http:
        for vm_id in ids:
            assert http.post("/registry/vms", json=vm(vm_id)).status_code == 201
    return ids


live = server_fixture("backup")


@pytest.fixture(scope="module")
def backup_of_live(
    live: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, int]]:
    """A backup taken while a writer keeps heartbeating, and the head before it started."""
    ids = register(live.url, 30)
    before = httpx.get(f"{live.url}/health").json()["revision"]
    stop = threading.Event()

    def keep_writing() -> None:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            while not stop.is_set():
                for vm_id in ids:
                    http.post(f"/registry/vms/{vm_id}/heartbeat")

    writer = threading.Thread(target=keep_writing)
    writer.start()
    name = "registry.pgdump" if backend.ON_POSTGRES else "registry-backup.db"
    target = tmp_path_factory.mktemp("copies") / name
    try:
        done = run_cli("backup", "--db", backend.target(live.db), "--to", str(target), timeout=60)
    finally:
        stop.set()
        writer.join()
    assert done.code == 0, done.err
    assert ("read back" if backend.ON_POSTGRES else "verified") in done.out
    yield target, before


def test_a_backup_taken_under_writes_is_consistent_and_verifies(
    backup_of_live: tuple[Path, int], live: ServerProcess
) -> None:
    target, before = backup_of_live
    assert not Path(f"{target}.partial").exists()
    assert not Path(f"{target}-wal").exists()  # self-contained: no write-ahead log beside it
    with opened(target) as copy:
        held = int(cell(copy, "SELECT count(*) FROM events"))
        assert before <= held <= httpx.get(f"{live.url}/health").json()["revision"]
        checked = run_cli("verify", "--db", copy)
    assert checked.code == 0, checked.err
    assert f"through seq {held}" in checked.out


def test_a_backup_never_replaces_a_file_without_force(
    backup_of_live: tuple[Path, int], live: ServerProcess
) -> None:
    target, _ = backup_of_live
    held = events_held(target)
    register(live.url, 2)
    refused = run_cli("backup", "--db", backend.target(live.db), "--to", str(target))
    assert refused.code == 2
    assert "exists" in refused.err and "--force" in refused.err
    assert events_held(target) == held
    replaced = run_cli(
        "backup", "--db", backend.target(live.db), "--to", str(target), "--force", timeout=60
    )
    assert replaced.code == 0, replaced.err
    assert events_held(target) > held


def test_a_backup_of_a_missing_file_fails_and_leaves_nothing(tmp_path: Path) -> None:
    done = run_cli("backup", "--db", str(tmp_path / "nope.db"), "--to", str(tmp_path / "c.db"))
    assert done.code == 2
    assert "does not exist" in done.err
    assert list(tmp_path.iterdir()) == []


def test_restore_into_a_new_file_gives_a_registry_that_serves_the_backup(
    backup_of_live: tuple[Path, int], tmp_path: Path
) -> None:
    target, _ = backup_of_live
    fresh = tmp_path / "restored.db"
    if backend.ON_POSTGRES:
        pg_restore(target, backend.target(fresh))  # the database the server below runs on
    else:
        done = run_cli("restore", "--from", str(target), "--db", str(fresh))
        assert done.code == 0, done.err
    server = ServerProcess(fresh).start()
    try:
        listed = httpx.get(f"{server.url}/registry/vms").json()
        assert listed["count"] >= 30
        assert httpx.get(f"{server.url}/health").json()["revision"] == events_held(target)
    finally:
        server.kill()


@restore_is_sqlite_only
def test_restore_refuses_a_live_target_even_with_force(
    backup_of_live: tuple[Path, int], live: ServerProcess
) -> None:
    target, _ = backup_of_live
    head = httpx.get(f"{live.url}/health").json()["revision"]
    for extra in ((), ("--force",)):
        done = run_cli("restore", "--from", str(target), "--db", str(live.db), *extra)
        assert done.code == 2
        assert "in use" in done.err
    assert httpx.get(f"{live.url}/health").json()["revision"] == head
    register(live.url, 1)  # and the server still writes to its log


@restore_is_sqlite_only
def test_restore_refuses_a_log_with_events_unless_forced(
    backup_of_live: tuple[Path, int], tmp_path: Path
) -> None:
    target, _ = backup_of_live
    other = tmp_path / "other.db"
    server = ServerProcess(other).start()
    register(server.url, 3, "other")
    server.stop()
    refused = run_cli("restore", "--from", str(target), "--db", str(other))
    assert refused.code == 2
    assert "holds 3 events" in refused.err and "--force" in refused.err
    assert events_in(other) == 3
    forced = run_cli("restore", "--from", str(target), "--db", str(other), "--force")
    assert forced.code == 0, forced.err
    assert events_in(other) == events_in(target)
    assert run_cli("verify", "--db", str(other)).code == 0


@restore_is_sqlite_only
def test_restore_refuses_a_backup_that_fails_verification(
    backup_of_live: tuple[Path, int], tmp_path: Path
) -> None:
    target, _ = backup_of_live
    tampered = tmp_path / "tampered.db"
    tampered.write_bytes(target.read_bytes())
    with closing(sqlite3.connect(tampered)) as conn, conn:
        conn.execute("UPDATE events SET at = at + 1 WHERE seq = 5")
    fresh = tmp_path / "restored.db"
    done = run_cli("restore", "--from", str(tampered), "--db", str(fresh))
    assert done.code == 2
    assert "FAILED verification at seq 5" in done.err
    assert not fresh.exists()


def test_postgresql_backup_uses_pg_dump_and_reads_it_back(tmp_path: Path) -> None:
    base = requires.postgres_url()
    requires.executable("pg_dump", install="apt-get install postgresql-client")
    name = f"backup_{uuid.uuid4().hex[:8]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        subprocess.run(
            ["psql", url, "-qc", "CREATE TABLE events (seq bigint primary key, body text);"
             "INSERT INTO events VALUES (1, 'one'), (2, 'two');"],
            check=True,
        )  # fmt: skip
        target = tmp_path / "registry.pgdump"
        done = run_cli("backup", "--db", url, "--to", str(target), timeout=60)
        assert done.code == 0, done.err
        assert "read back" in done.out
        listed = subprocess.run(["pg_restore", "--list", str(target)], capture_output=True,
                                text=True, check=True)  # fmt: skip
        assert "TABLE DATA public events" in listed.stdout
        refused = run_cli("restore", "--from", str(target), "--db", url)
        assert refused.code == 2 and "pg_restore" in refused.err
    finally:
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
