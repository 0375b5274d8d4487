"""`compact` with nothing before its cut says so and writes no archive, rather than reporting
"0 archived to FILE" for a file that is not there (docs/audit.md, compact)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.logs import cli, events_of, fleet_story, write_sync
from tests.support import backend

LOG = events_of(fleet_story())  # its events are from 2026-11-18


@pytest.mark.parametrize(
    ("cut", "first_kept"),
    [
        (("--older-than", "3650d"), 1),  # no event is ten years old
        (("--before", "11"), 11),  # the second compaction at the same cut
    ],
)
def test_nothing_before_the_cut_writes_no_archive(
    tmp_path: Path, cut: tuple[str, str], first_kept: int
) -> None:
    db = backend.target(tmp_path / "registry.db")
    write_sync(db, LOG)
    if first_kept > 1:
        done = cli("compact", "--db", db, *cut, "--archive", str(tmp_path / "a.jsonl.gz"))
        assert done.returncode == 0, done.stderr
    archive = tmp_path / "old.jsonl.gz"

    again = cli("compact", "--db", db, *cut, "--archive", str(archive))

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        f"nothing to compact: the log holds no events before seq {first_kept}; "
        f"{archive} not written"
    )
    assert not archive.exists()
    assert not Path(f"{archive}.partial").exists()
    assert cli("verify", "--db", db).returncode == 0
