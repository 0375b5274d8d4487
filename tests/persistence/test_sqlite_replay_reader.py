"""Startup replay's reader: one query read in chunks on a read-only connection of its own."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from vm_registry.persistence.errors import StoreUnavailable
from vm_registry.persistence.sqlite.replay_reader import read_in_chunks

ALL = "SELECT i FROM n WHERE i > ? ORDER BY i"


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE n (i INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO n VALUES (?)", [(i,) for i in range(1, 24)])
    return path


def checkpoint_blocked(path: Path) -> bool:
    """Whether a reader still holds a snapshot of the log, after a write moved it on."""
    with closing(sqlite3.connect(path, timeout=0)) as conn:  # busy: say so, do not wait
        with conn:
            conn.execute("INSERT INTO n (i) SELECT max(i) + 1 FROM n")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy)


async def test_every_row_comes_once_in_order_in_chunks_of_the_size(numbers: Path) -> None:
    chunks = [rows async for rows in read_in_chunks(numbers, ALL, (2,), 5, 100)]
    assert [len(rows) for rows in chunks] == [5, 5, 5, 5, 1]
    assert [row[0] for rows in chunks for row in rows] == list(range(3, 24))
    assert [rows async for rows in read_in_chunks(numbers, ALL, (99,), 5, 100)] == []
    exact = [rows async for rows in read_in_chunks(numbers, ALL, (13,), 5, 100)]
    assert [len(rows) for rows in exact] == [5, 5]
    assert not checkpoint_blocked(numbers)


async def test_the_chunks_are_one_snapshot_and_leaving_early_lets_it_go(numbers: Path) -> None:
    chunks = read_in_chunks(numbers, ALL, (0,), 5, 100)
    first = await anext(chunks)
    assert [row[0] for row in first] == [1, 2, 3, 4, 5]
    assert checkpoint_blocked(numbers)  # row 24 was written meanwhile, and is not seen
    rest = [row[0] async for rows in chunks for row in rows]
    assert rest == list(range(6, 24))
    assert not checkpoint_blocked(numbers)

    chunks = read_in_chunks(numbers, ALL, (0,), 5, 100)
    await anext(chunks)
    await chunks.aclose()
    assert not checkpoint_blocked(numbers)


async def test_the_connection_is_read_only_and_errors_are_the_stores(numbers: Path) -> None:
    with pytest.raises(StoreUnavailable):
        async for _ in read_in_chunks(numbers, "INSERT INTO n VALUES (99) RETURNING i", (), 5, 9):
            pass
    with pytest.raises(StoreUnavailable):
        async for _ in read_in_chunks(numbers, "SELECT nothing FROM nowhere", (), 5, 100):
            pass
    with closing(sqlite3.connect(numbers)) as conn:
        assert conn.execute("SELECT count(*) FROM n").fetchone() == (23,)
    with pytest.raises(StoreUnavailable):
        async for _ in read_in_chunks(numbers.with_name("absent.db"), ALL, (0,), 5, 100):
            pass
