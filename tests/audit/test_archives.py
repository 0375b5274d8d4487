"""Compaction offline, through the CLI: `--before` and `--older-than`, archives of successive
compactions, and `verify --archive` telling a true archive from a doctored one. Each test's
log is on the suite's backend: a copy of one SQLite template, or a PostgreSQL database written
for it."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.audit.logs import cli, events_of, fleet_story, write_sync
from tests.support import backend
from vm_registry.domain.events import Event, canonical_bytes

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def log() -> list[Event]:
    # One event every 6 hours, the first 10 days (less an hour) ago: seq n is (n - 1) * 6 h
    # after that, so "older than 5 days" is exactly seqs 1..20, with an hour to spare.
    t0 = time.time_ns() // 1_000_000 - 10 * 24 * HOUR_MS + HOUR_MS
    return events_of(fleet_story(), t0=t0, step_ms=6 * HOUR_MS)


@pytest.fixture(scope="module")
def template(log: list[Event], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archives") / "template.db"
    write_sync(path, log, snapshots_at=(30,))
    return path


@pytest.fixture
def db(log: list[Event], template: Path, tmp_path: Path) -> str:
    """The `--db` of this test's registry."""
    path = tmp_path / "registry.db"
    if backend.ON_POSTGRES:
        write_sync(backend.target(path), log, snapshots_at=(30,))
    else:
        shutil.copy(template, path)
    return backend.target(path)


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def read_archive(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path, "rb") as lines:
        header, *rows = [orjson.loads(line) for line in lines]
    return header, rows


def write_archive(path: Path, header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Rewrite an archive with its hashes recomputed: internally consistent, whatever it holds."""
    chain = bytes.fromhex(header["prevHash"])
    with gzip.open(path, "wb") as out:
        out.write(orjson.dumps(header) + b"\n")
        for row in rows:
            event = Event(
                row["seq"], row["type"], row["vmId"], row["at"], row["actor"], row["data"]
            )
            chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
            out.write(orjson.dumps({**row, "hash": chain.hex()}) + b"\n")


@pytest.fixture
def twice(db: str, tmp_path: Path) -> tuple[str, Path, Path]:
    """The log compacted twice, through 10 and then through 25, each with an archive."""
    first, second = tmp_path / "first.jsonl.gz", tmp_path / "second.jsonl.gz"
    assert ok("compact", "--db", db, "--before", "11", "--archive", str(first)).startswith(
        "compacted through seq 10: 10 events dropped"
    )
    ok("compact", "--db", db, "--before", "26", "--archive", str(second))
    return db, first, second


def test_archives_of_successive_compactions_verify_together(
    twice: tuple[str, Path, Path],
) -> None:
    db, first, second = twice
    out = ok("verify", "--db", db, "--archive", str(first), "--archive", str(second))
    assert f"archive {first}: events 1..10 verified against the chain" in out
    assert f"archive {second}: events 11..25 verified against the chain" in out
    assert out.splitlines()[-2] == "ok: 11 events and 2 snapshots verified through seq 36"
    assert out.splitlines()[-1].startswith("head: 36:")


def test_an_older_archive_alone_cannot_be_vouched_for(twice: tuple[str, Path, Path]) -> None:
    db, first, _ = twice
    result = cli("verify", "--db", db, "--archive", str(first))
    assert result.returncode == 1
    assert "give the archives of every later compaction too" in result.stderr


def test_a_doctored_archive_fails_even_with_its_hashes_recomputed(
    twice: tuple[str, Path, Path],
) -> None:
    db, first, second = twice
    header, rows = read_archive(first)
    rows[4]["data"] = {"name": "someone else"}
    write_archive(first, header, rows)
    result = cli("verify", "--db", db, "--archive", str(first), "--archive", str(second))
    assert result.returncode == 1
    assert f"archive {first} does not match the log's hash chain at seq 10" in result.stderr


def test_an_archive_missing_its_last_event_fails(twice: tuple[str, Path, Path]) -> None:
    db, _, second = twice
    header, rows = read_archive(second)
    write_archive(second, header, rows[:-1])
    result = cli("verify", "--db", db, "--archive", str(second))
    assert result.returncode == 1
    assert "ends at seq 24" in result.stderr


def test_an_unreadable_archive_is_reported_not_a_crash(db: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl.gz"
    junk.write_bytes(b"not gzip at all")
    result = cli("verify", "--db", db, "--archive", str(junk))
    assert result.returncode == 1
    assert f"archive {junk} FAILED: not a readable archive" in result.stderr
    assert "Traceback" not in result.stderr


def test_older_than_cuts_by_age_and_replay_answers_410_before_the_cut(db: str) -> None:
    out = ok("compact", "--db", db, "--older-than", "5d")
    assert out.splitlines()[-1] == "compacted through seq 20: 20 events dropped"
    assert ok("verify", "--db", db).startswith("ok: 16 events and 2 snapshots")
    at_cut = orjson.loads(ok("replay", "--db", db, "--until", "20"))
    # Seq 20 is vm-b's deregistration: vm-c and a paused vm-a are left.
    assert [(v["id"], v["status"]) for v in at_cut["vms"]] == [
        ("vm-c", "running"),
        ("vm-a", "paused"),
    ]
    before = cli("replay", "--db", db, "--until", "19")
    assert before.returncode == 2
    assert "compacted" in before.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--before", "38"], "the head is 36"),
        (["--older-than", "5 fortnights"], "must look like 30d"),
    ],
)
def test_compact_refuses_a_cut_it_cannot_make(db: str, args: list[str], message: str) -> None:
    result = cli("compact", "--db", db, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert ok("verify", "--db", db).startswith("ok: 36 events")
