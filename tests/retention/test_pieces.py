"""Retention works in small pieces on a live server (issue #23, P16's p99): a cut deletes a
chunk of rows per transaction, the live cut folds and archives what it drops from one read and
deletes `LIVE_PIECE` rows at a time; on SQLite the freed pages go back in batches, and the WAL
is cut back to a size after a checkpoint, so the file with its WAL stays at a size."""

from __future__ import annotations

import gzip
import math
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from ops.bench.logs import heartbeat_log

from tests.domain.strategies import T0
from tests.persistence.contract import append, new
from tests.support import backend
from vm_registry.audit.replay import state_at
from vm_registry.domain.fold import State
from vm_registry.persistence.sqlite import checkpoints
from vm_registry.persistence.sqlite import compaction as sqlite_compaction
from vm_registry.persistence.store import Store, open_store
from vm_registry.service.cutting import LIVE_PIECE, cut_live

EVENTS = 1_200


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(backend.target(tmp_path / "registry.db"))
    try:
        events = list(heartbeat_log(EVENTS, 40, 0.9, T0))
        for start in range(0, len(events), 500):
            await append(opened.log, events[start : start + 500])
        yield opened
    finally:
        await opened.close()
        backend.drop_all()


async def rows_held(store: Store) -> int:
    """Every row of the log, also those below the cut that readers no longer see."""
    return int((await store.log.fetch("SELECT COUNT(*) FROM events"))[0][0])


async def test_a_cut_deletes_at_most_a_chunk_of_rows_per_transaction(store: Store) -> None:
    cut, chunk = 900, 100
    chain = await store.log.hash_at(cut)
    assert chain is not None
    seen: list[int] = []

    async def between_transactions() -> None:
        seen.append(await rows_held(store))

    dropped = await store.compaction.compact(
        cut, chain, b"{}", chunk=chunk, rest=between_transactions
    )
    assert dropped == cut
    # Between two of its transactions the writer could commit: each took one chunk's rows.
    assert seen == list(range(EVENTS - chunk, EVENTS - cut - 1, -chunk))
    assert await rows_held(store) == EVENTS - cut


async def test_the_live_cut_folds_and_archives_what_it_drops(store: Store, tmp_path: Path) -> None:
    cut = 1_000
    expected = await state_at(store, cut)
    archive = tmp_path / "events.jsonl.gz"
    result, state = await cut_live(store, State(), cut, archive)
    assert state == expected
    assert (result.cut, result.dropped, result.archived) == (cut, cut, cut)
    with gzip.open(archive, "rb") as lines:
        assert len(lines.readlines()) == 1 + cut  # the header, then every event dropped
    assert store.log.first_seq == cut + 1


@backend.sqlite_only
async def test_the_live_cut_deletes_a_piece_per_transaction(store: Store) -> None:
    statements: list[str] = []
    await store.log.writable().set_trace_callback(statements.append)  # type: ignore[attr-defined]
    cut = 1_000
    await cut_live(store, State(), cut, None)
    deletes = [sql for sql in statements if sql.startswith("DELETE FROM events")]
    # Full pieces, then the short one that finds nothing more to delete.
    assert len(deletes) == math.floor(cut / LIVE_PIECE) + 1
    assert all(sql.endswith(f"LIMIT {LIVE_PIECE})") for sql in deletes), deletes[0]


async def no_rest() -> None:
    pass


def free_pages(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


@backend.sqlite_only
async def test_freed_pages_go_back_a_batch_per_transaction(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    chain = await store.log.hash_at(EVENTS - 1)
    assert chain is not None
    await store.compaction.compact(EVENTS - 1, chain, b"{}")
    free = free_pages(db)
    assert free > 0
    statements: list[str] = []
    await store.log.writable().set_trace_callback(statements.append)  # type: ignore[attr-defined]
    assert await store.compaction.reclaim(no_rest) == free
    assert free_pages(db) == 0
    vacuums = [sql for sql in statements if sql.startswith("PRAGMA incremental_vacuum")]
    assert len(vacuums) == math.ceil(free / sqlite_compaction.RECLAIM_PAGES)


@backend.sqlite_only
async def test_the_wal_is_cut_back_after_a_checkpoint(store: Store, tmp_path: Path) -> None:
    wal = tmp_path / "registry.db-wal"
    limit = checkpoints.WAL_LIMIT_BYTES
    # One transaction larger than the limit (a snapshot body that does not compress).
    body = os.urandom(2 * limit)
    chain = await store.log.hash_at(10)
    assert chain is not None
    await store.snapshots.save(10, chain, body)
    assert wal.stat().st_size > limit
    await checkpoints.checkpoint(store.log)  # type: ignore[arg-type]
    await append(store.log, [new()])  # the first write after the checkpoint starts it over
    assert wal.stat().st_size <= limit
