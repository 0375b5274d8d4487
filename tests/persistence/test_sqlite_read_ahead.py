"""Startup replay's reader: a query read in chunks on a thread of its own, one chunk ahead."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from vm_registry.persistence.errors import StoreUnavailable
from vm_registry.persistence.sqlite.read_ahead import read_ahead


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE n (i INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO n VALUES (?)", [(i,) for i in range(1, 24)])
    return path


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("replay-reader")]


async def test_every_row_comes_once_in_order_in_chunks_of_the_size(numbers: Path) -> None:
    chunks = [
        rows
        async for rows in read_ahead(
            numbers, "SELECT i FROM n WHERE i > ? ORDER BY i", (2,), 5, 100
        )
    ]
    assert [len(rows) for rows in chunks] == [5, 5, 5, 5, 1]
    assert [row[0] for rows in chunks for row in rows] == list(range(3, 24))
    assert not readers()


async def test_an_empty_result_yields_no_chunk(numbers: Path) -> None:
    sql = "SELECT i FROM n WHERE i > ? ORDER BY i"
    assert [rows async for rows in read_ahead(numbers, sql, (99,), 5, 100)] == []
    exact = [rows async for rows in read_ahead(numbers, sql, (13,), 5, 100)]
    assert [len(rows) for rows in exact] == [5, 5]


async def test_leaving_early_stops_the_reader_thread(numbers: Path) -> None:
    chunks = read_ahead(numbers, "SELECT i FROM n ORDER BY i", (), 5, 100)
    first = await anext(chunks)
    assert [row[0] for row in first] == [1, 2, 3, 4, 5]
    assert readers()  # the next chunk is being read meanwhile
    await chunks.aclose()
    assert not readers()


async def test_the_connection_is_read_only_and_errors_are_the_stores(numbers: Path) -> None:
    with pytest.raises(StoreUnavailable):
        async for _ in read_ahead(numbers, "INSERT INTO n VALUES (?) RETURNING i", (99,), 5, 100):
            pass
    with pytest.raises(StoreUnavailable):
        async for _ in read_ahead(numbers, "SELECT nothing FROM nowhere", (), 5, 100):
            pass
    with closing(sqlite3.connect(numbers)) as conn:
        assert conn.execute("SELECT count(*) FROM n").fetchone() == (23,)
    assert not readers()
