"""Torn writes: the WAL cut short (or a frame scribbled over) as a crash mid-write leaves it.

A source log is written under load and the server killed with SIGKILL, so the last commits
live only in the WAL. Copies of the database get the WAL truncated at random offsets, and a
server starts on each copy. It must either start on a consistent state, namely a prefix of the
original log that `verify` accepts and that equals a full replay, or refuse to start with a
message naming the file and the `verify` command. It never starts on silently wrong state.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults import audit
from tests.faults.load import Writers
from tests.support.backend import sqlite_only_because
from tests.support.server import ServerProcess

pytestmark = sqlite_only_because(
    "tears and scribbles over copies of the SQLite file's WAL. PostgreSQL replays its own WAL "
    "after a crash, before any client connects; the registry's part, its database going away "
    "and coming back, is tests/replicas/test_postgres_faults.py and "
    "tests/persistence/test_postgres_restart.py"
)

CUTS = int(os.environ.get("VM_REGISTRY_TORN_CUTS", "5"))
WAL_HEADER = 32


@dataclass(frozen=True)
class Source:
    db: Path
    events: list[dict[str, Any]]
    wal_size: int


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    db = tmp_path_factory.mktemp("torn-source") / "registry.db"
    server = ServerProcess(db, args=["--snapshot-every", "50"]).start()
    try:
        with Writers(server.url, "torn", threads=3, seed=3):
            time.sleep(0.8)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            events = audit.all_events(http)
    finally:
        server.kill()  # SIGKILL: the WAL keeps what no checkpoint moved into the database
    wal = db.with_name(db.name + "-wal")
    assert wal.exists() and wal.stat().st_size > WAL_HEADER, "the kill left no WAL to tear"
    yield Source(db, events, wal.stat().st_size)


def _copy(source: Source, into: Path, damage: Callable[[bytearray], bytearray]) -> Path:
    into.mkdir()
    db = into / source.db.name
    shutil.copyfile(source.db, db)
    wal = bytearray(source.db.with_name(source.db.name + "-wal").read_bytes())
    (into / (db.name + "-wal")).write_bytes(damage(wal))
    return db


def _damages(size: int, rng: random.Random) -> list[tuple[str, Callable[[bytearray], bytearray]]]:
    cuts = sorted({0, WAL_HEADER - 5, size - 1}
                  | {rng.randrange(WAL_HEADER, size) for _ in range(CUTS)})  # fmt: skip
    found: list[tuple[str, Callable[[bytearray], bytearray]]] = [
        (f"truncated at {cut}", lambda wal, cut=cut: wal[:cut]) for cut in cuts
    ]
    middle = rng.randrange(WAL_HEADER, size - 512)
    found.append(
        (f"512 zero bytes at {middle}", lambda wal: wal[:middle] + bytes(512) + wal[middle + 512 :])
    )
    return found


def _outcome(db: Path, source: Source) -> str:
    """Start a server on a damaged copy and judge what it did."""
    try:
        server = ServerProcess(db).start(attempts=2)
    except RuntimeError as refusal:
        message = str(refusal)
        assert str(db) in message and "vm-registry verify" in message, (
            f"refused to start without naming the file and the verify command:\n{message}"
        )
        return "refused"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            events = audit.all_events(http)
            vms = audit.projection(http)
    finally:
        server.kill()
    assert events == source.events[: len(events)], "started on a state that is not a prefix"
    audit.assert_gap_free(events)
    audit.verify(db)
    assert audit.comparable(audit.replay(db)) == audit.comparable(vms)
    return f"started at seq {len(events)} of {len(source.events)}"


def test_a_torn_wal_starts_on_a_consistent_prefix_or_refuses(
    source: Source, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("VM_REGISTRY_TORN_SEED", "8")))
    damages = _damages(source.wal_size, rng)
    copies = [
        (what, _copy(source, tmp_path / f"copy{n}", damage))
        for n, (what, damage) in enumerate(damages)
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda item: _outcome(item[1], source), copies))
    report = "\n".join(
        f"  {what}: {outcome}" for (what, _), outcome in zip(copies, outcomes, strict=True)
    )
    print(f"\ntorn WAL copies ({source.wal_size} bytes, {len(source.events)} events):\n{report}")
    assert all(outcome.startswith(("started", "refused")) for outcome in outcomes)


def test_an_intact_copy_keeps_every_event(source: Source, tmp_path: Path) -> None:
    db = _copy(source, tmp_path / "intact", lambda wal: wal)
    assert _outcome(db, source) == f"started at seq {len(source.events)} of {len(source.events)}"


def test_a_corrupt_database_refuses_to_start_and_says_what_to_run(
    source: Source, tmp_path: Path
) -> None:
    """Past what SQLite can recover (the database file itself torn), the server refuses."""
    db = _copy(source, tmp_path / "corrupt", lambda wal: wal)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with db.open("r+b") as file:
        file.truncate(db.stat().st_size // 2)
    assert _outcome(db, source) == "refused"
