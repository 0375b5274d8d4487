"""The SQLite log's checkpoints run beside the writer (`persistence/sqlite/checkpoints.py`): a
commit does not wait to copy the WAL into the database, and the checkpointer copies it a moment
later. Seen from outside: the database file alone, without its WAL, holds the commits only
once a checkpoint has copied them."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.persistence.contract import append, new
from vm_registry.persistence.sqlite import checkpoints
from vm_registry.persistence.store import Store, open_store

# Well over SQLite's default checkpoint limit of 1,000 pages (4 MiB) in one commit.
LARGE_BATCH = [new(f"vm-{n}", data={"blob": f"{n:08d}" * 1_000}) for n in range(700)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(tmp_path / "registry.db")
    try:
        yield opened
    finally:
        await opened.close()


def head_of_the_file_alone(db: Path, scratch: Path) -> int | None:
    """The last seq in a copy of the database file without its WAL (None: not readable yet)."""
    copy = scratch / "alone.db"
    for leftover in (copy, scratch / "alone.db-wal", scratch / "alone.db-shm"):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(db, copy)
    try:
        with closing(sqlite3.connect(copy)) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'events'")
            if tables.fetchone() is None:  # not even the schema has been copied yet
                return 0
            row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    except sqlite3.DatabaseError:  # copied halfway through a checkpoint's writes
        return None
    return int(row[0] or 0)


async def test_a_large_commit_does_not_wait_for_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 3600.0)  # no background one here
    opened = await open_store(tmp_path / "registry.db")
    try:
        await append(opened.log, LARGE_BATCH)
        assert opened.log.head == len(LARGE_BATCH)
        # SQLite's own checkpoint would have copied these pages within the commit.
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        assert head_of_the_file_alone(tmp_path / "registry.db", scratch) == 0
    finally:
        await opened.close()


async def test_the_checkpointer_copies_commits_into_the_database_soon_after(
    store: Store, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for n in range(3):  # small commits, far below any page limit
        await append(store.log, [new(f"vm-{n}")])
    deadline = asyncio.get_running_loop().time() + 20 * checkpoints.CHECKPOINT_SECONDS + 5
    while head_of_the_file_alone(tmp_path / "registry.db", scratch) != 3:
        assert asyncio.get_running_loop().time() < deadline, "no checkpoint copied the commits"
        await asyncio.sleep(0.05)
