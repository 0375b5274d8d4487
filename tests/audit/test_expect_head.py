"""Issue #11: `verify` could not detect a truncated tail, since a log cut after its last good
event is a perfect chain. It now prints the head's seq and chain hash, and
`--expect-head SEQ:HASH` checks a head recorded earlier."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.audit.logs import cli, events_of, fleet_story, write_sync

LOG = events_of(fleet_story())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("expect-head") / "template.db"
    write_sync(path, LOG, (10, 20))
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(template, tmp_path / "registry.db"))


def head_of(db: Path) -> str:
    result = cli("verify", "--db", str(db))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("head: ")
    return line.removeprefix("head: ")


def test_the_recorded_head_verifies_on_the_same_log(db: Path) -> None:
    head = head_of(db)
    assert head.startswith(f"{len(LOG)}:")
    assert cli("verify", "--db", str(db), "--expect-head", head).returncode == 0


def test_a_truncated_log_verifies_alone_but_fails_against_its_recorded_head(db: Path) -> None:
    head = head_of(db)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM events WHERE seq > ?", (len(LOG) - 3,))
    assert cli("verify", "--db", str(db)).returncode == 0  # the chain alone cannot tell
    result = cli("verify", "--db", str(db), "--expect-head", head)
    assert result.returncode == 1
    assert f"FAILED at seq {len(LOG) - 2}:" in result.stderr
    assert "truncated" in result.stderr


def test_a_head_recorded_before_the_log_grew_still_verifies(db: Path) -> None:
    seq = 20  # as if recorded when the log ended there
    with closing(sqlite3.connect(db)) as conn:
        (chain,) = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
    assert cli("verify", "--db", str(db), "--expect-head", f"{seq}:{chain.hex()}").returncode == 0


def test_a_head_with_another_hash_fails_as_rewritten(db: Path) -> None:
    seq, _, digest = head_of(db).partition(":")
    forged = f"{seq}:{'0' * 64}"
    assert forged != f"{seq}:{digest}"
    result = cli("verify", "--db", str(db), "--expect-head", forged)
    assert result.returncode == 1
    assert "rewritten" in result.stderr


@pytest.mark.parametrize("bad", ["36", "x:00", "36:abc", f"-1:{'0' * 64}"])
def test_a_malformed_expected_head_is_a_usage_error(db: Path, bad: str) -> None:
    result = cli("verify", "--db", str(db), "--expect-head", bad)
    assert result.returncode == 2
    assert "SEQ:HASH" in result.stderr
