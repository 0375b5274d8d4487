"""Issue #25, items 9 to 11: backups and restores that pointed at the wrong thing.

- `backup --to <the live database> --force` copied the log over itself, said "verified", and
  the running server answered 503 "log file was replaced" to every write until restarted. A
  target that is the source, or a log a process has open, is now refused even with --force.
- `restore --from X --db X --force` hung (the copy waited on its own lock for ever). It is now
  refused at once.
- `backup --to <a directory> --force` printed a traceback and left `<directory>.partial`
  behind. It is now a one-line error, and nothing is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backup.test_backup import register
from tests.cli.conftest import Run, run_cli
from tests.support import backend
from tests.support.server import ServerProcess

only_sqlite_files = backend.sqlite_only_because("the source is a file only on SQLite")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("refusals") / "registry.db").start()
    register(proc.url, 3)
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on a SQLite file whatever the suite's backend: a live log as a target."""
    path = tmp_path_factory.mktemp("other") / "other.db"
    proc = ServerProcess(path, target=str(path)).start()
    register(proc.url, 2, "other")
    try:
        yield proc
    finally:
        proc.kill()


def head(server: ServerProcess) -> int:
    revision: int = httpx.get(f"{server.url}/health").json()["revision"]
    return revision


def untouched(server: ServerProcess, before: int) -> None:
    """The server's log is as it was, and the server still appends to it."""
    assert head(server) == before
    register(server.url, 1, "after")
    assert head(server) == before + 1
    assert not Path(f"{server.db}.partial").exists()


def refused(done: Run, reason: str) -> None:
    """Exit 2 with a one-line error giving `reason`, no traceback."""
    assert done.code == 2, done.out
    assert reason in done.err
    assert "Traceback" not in done.err, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err


@only_sqlite_files
def test_a_backup_onto_its_own_source_is_refused_even_with_force(live: ServerProcess) -> None:
    before = head(live)
    for target in (live.db, live.db.parent / ".." / live.db.parent.name / live.db.name):
        done = run_cli("backup", "--db", str(live.db), "--to", str(target), "--force")
        refused(done, "is the database being backed up")
    untouched(live, before)


def test_a_backup_onto_a_log_a_server_has_open_is_refused_even_with_force(
    live: ServerProcess, sqlite_server: ServerProcess
) -> None:
    before = head(sqlite_server)
    done = run_cli(
        "backup", "--db", backend.target(live.db), "--to", str(sqlite_server.db), "--force",
        timeout=60,
    )  # fmt: skip
    refused(done, "in use")
    untouched(sqlite_server, before)


def test_a_backup_into_a_directory_is_a_clear_error_and_leaves_nothing(
    live: ServerProcess, tmp_path: Path
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    for extra in ((), ("--force",)):
        done = run_cli(
            "backup", "--db", backend.target(live.db), "--to", str(directory), *extra, timeout=60
        )
        refused(done, f"{directory} is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups"]
    assert list(directory.iterdir()) == []


@only_sqlite_files
def test_a_restore_of_a_file_onto_itself_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    server = ServerProcess(path).start()
    register(server.url, 2)
    server.stop()
    for extra in ((), ("--force",)):
        # On the file itself, and through another spelling of its path.
        for source in (path, tmp_path / "." / "registry.db"):
            done = run_cli("restore", "--from", str(source), "--db", str(path), *extra)
            refused(done, "is the database to restore into")
    assert run_cli("verify", "--db", str(path)).code == 0
