"""`vm-registry migrate` both ways between SQLite and PostgreSQL, and the audit commands on a
PostgreSQL URL, run as a user runs them. Each test starts from an empty database of its own
module's PostgreSQL database (emptied between tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.audit.logs import cli, events_of, fleet_story, tamper, write_sync
from tests.support import postgres

LOG = events_of(fleet_story())


@pytest.fixture(scope="module")
def server_db() -> Iterator[str]:
    with postgres.fresh_database("migrate") as url:
        yield url


@pytest.fixture
async def url(server_db: str) -> str:
    await postgres.reset(server_db)
    return server_db


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrate") / "template.db"
    write_sync(path, LOG, snapshots_at=(10, 30))
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(template, tmp_path / "registry.db"))


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def head_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("head: "))


def replayed(target: str, *extra: str) -> object:
    return orjson.loads(ok("replay", "--db", target, "--format", "json", *extra))


def test_a_sqlite_log_moves_to_postgresql_and_back_unchanged(
    db: Path, url: str, tmp_path: Path
) -> None:
    out = ok("migrate", "--from", str(db), "--to", url)
    assert f"copying seqs 1..{len(LOG)} ({len(LOG)} events)" in out
    assert f"copied {len(LOG)} events and 2 snapshots" in out
    assert f"verified {url}: {len(LOG)} events and 2 snapshots through seq {len(LOG)}" in out
    source_head = head_line(ok("verify", "--db", str(db)))
    assert head_line(out) == source_head
    assert head_line(ok("verify", "--db", url)) == source_head  # same seqs, same hashes
    for extra in ((), ("--until", "12"), ("--vm", "vm-b")):
        assert replayed(url, *extra) == replayed(str(db), *extra)

    back = tmp_path / "back.db"
    out = ok("migrate", "--from", url, "--to", str(back))
    assert head_line(out) == source_head
    assert head_line(ok("verify", "--db", str(back))) == source_head
    assert replayed(str(back)) == replayed(str(db))


def test_migrate_refuses_a_target_that_holds_a_log(db: Path, url: str, tmp_path: Path) -> None:
    ok("migrate", "--from", str(db), "--to", url)
    again = cli("migrate", "--from", str(db), "--to", url)
    assert again.returncode == 2
    assert "already holds a log" in again.stderr
    assert "copying" not in again.stdout  # refused before it says what it would copy
    other = tmp_path / "other.db"
    shutil.copy(db, other)
    into_file = cli("migrate", "--from", url, "--to", str(other))
    assert into_file.returncode == 2
    assert "already holds a log" in into_file.stderr
    assert "copying" not in into_file.stdout
    assert head_line(ok("verify", "--db", url)) == head_line(ok("verify", "--db", str(db)))
    same = cli("migrate", "--from", str(db), "--to", str(db))
    assert same.returncode == 2 and "same log" in same.stderr


def test_a_compacted_log_moves_from_its_compaction_point(db: Path, url: str) -> None:
    ok("compact", "--db", str(db), "--before", "11")
    out = ok("migrate", "--from", str(db), "--to", url)
    assert f"copying seqs 11..{len(LOG)}" in out
    assert head_line(out) == head_line(ok("verify", "--db", str(db)))
    assert replayed(url, "--until", "10") == replayed(str(db), "--until", "10")
    gone = cli("replay", "--db", url, "--until", "5")
    assert gone.returncode == 2 and "compacted" in gone.stderr


def test_compact_and_replay_work_on_a_url(db: Path, url: str) -> None:
    ok("migrate", "--from", str(db), "--to", url)
    before = replayed(url, "--until", "20")
    out = ok("compact", "--db", url, "--before", "16")
    assert out.startswith("compacted through seq 15: 15 events dropped")
    assert "ok:" in ok("verify", "--db", url)
    assert replayed(url, "--until", "20") == before


def test_a_source_damaged_in_one_byte_stops_the_copy_at_that_event(db: Path, url: str) -> None:
    tamper(db, "UPDATE events SET at = at + 1 WHERE seq = 17")
    result = cli("migrate", "--from", str(db), "--to", url)
    assert result.returncode == 1
    assert "event" in result.stderr and "run verify" in result.stderr


def test_an_unreachable_database_is_reported_without_its_password(tmp_path: Path) -> None:
    secret = "postgresql://someone:hunter2@127.0.0.1:1/nowhere"
    for args in (("verify", "--db", secret), ("migrate", "--from", secret, "--to", "x.db")):
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        assert "unreachable" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout
