"""`vm-registry verify`: passes on an intact log, and names the first bad seq otherwise.

The log is written in-process (three dozen events, snapshots at 10, 20 and 30) for each test,
on the suite's backend (a SQLite file copied from one template, or a PostgreSQL database of its
own), and then changed behind the registry's back with plain SQL, the way a bad disk or an
intruder would change it.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audit.logs import (
    behind_the_back,
    cell,
    cli,
    events_of,
    fleet_story,
    state_at,
    tamper,
    write_sync,
)
from tests.support import backend
from vm_registry.audit.verify import Report, verify
from vm_registry.domain import snapshot
from vm_registry.persistence.store import open_store

LOG = events_of(fleet_story())
SNAPSHOTS = (10, 20, 30)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "template.db"
    write_sync(path, LOG, SNAPSHOTS)
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    """The `--db` of this test's registry."""
    path = tmp_path / "registry.db"
    if backend.ON_POSTGRES:
        write_sync(backend.target(path), LOG, SNAPSHOTS)
    else:
        shutil.copy(template, path)
    return backend.target(path)


def flip(blob: bytes, index: int, mask: int = 0x01) -> bytes:
    return blob[:index] + bytes([blob[index] ^ mask]) + blob[index + 1 :]


# Each changes one thing in the stored log and returns the seq verify must name.
def changed_data(db: str) -> int:
    data = cell(db, "SELECT data FROM events WHERE seq = 3")
    index = data.index(b"fra-1") + 4
    tamper(
        db, "UPDATE events SET data = ? WHERE seq = 3", (data[:index] + b"2" + data[index + 1 :],)
    )
    return 3


def changed_time(db: str) -> int:
    tamper(db, "UPDATE events SET at = at + 256 WHERE seq = 17")
    return 17


def changed_type(db: str) -> int:
    assert cell(db, "SELECT type FROM events WHERE seq = 5") == 3  # a heartbeat...
    tamper(db, "UPDATE events SET type = 2 WHERE seq = 5")  # ...now reads as an update
    return 5


def changed_hash(db: str) -> int:
    stored = cell(db, f"SELECT hash FROM events WHERE seq = {len(LOG)}")
    tamper(db, f"UPDATE events SET hash = ? WHERE seq = {len(LOG)}", (flip(stored, 0),))
    return len(LOG)


def changed_vm(db: str) -> int:
    tamper(db, "UPDATE events SET vm = vm % 3 + 1 WHERE seq = 8")
    return 8


def deleted_event(db: str) -> int:
    tamper(db, "DELETE FROM events WHERE seq = 25")
    return 25


def changed_snapshot_body(db: str) -> int:
    body = cell(db, "SELECT body FROM snapshots WHERE seq = 20")
    tamper(db, "UPDATE snapshots SET body = ? WHERE seq = 20", (flip(body, len(body) // 2),))
    return 20


def forged_snapshot(db: str) -> int:
    # Self-consistent (its digest matches its bytes) but not what a refold gives at seq 20.
    lie = state_at(LOG, 19)
    lie.revision = 20
    body = snapshot.encode(lie)
    tamper(
        db,
        "UPDATE snapshots SET body = ?, digest = ? WHERE seq = 20",
        (zlib.compress(body), hashlib.sha256(body).digest()),
    )
    return 20


def test_verify_passes_on_an_intact_log(db: str) -> None:
    result = cli("verify", "--db", db)
    assert result.returncode == 0, result.stderr
    ok, head = result.stdout.strip().splitlines()
    assert ok == "ok: 36 events and 3 snapshots verified through seq 36"
    assert head.startswith("head: 36:") and len(head) == len("head: 36:") + 64


@pytest.mark.parametrize(
    "change",
    [
        changed_data,
        changed_time,
        changed_type,
        changed_hash,
        changed_vm,
        deleted_event,
        changed_snapshot_body,
        forged_snapshot,
    ],
)
def test_verify_fails_naming_the_first_bad_seq(db: str, change: Callable[[str], int]) -> None:
    seq = change(db)
    result = cli("verify", "--db", db)
    assert result.returncode == 1
    assert f"FAILED at seq {seq}:" in result.stderr
    assert result.stdout == ""


# In-process from here: the same check over every byte is too many runs for a subprocess each.


def verify_file(path: str) -> Report:
    async def run() -> Report:
        store = await open_store(path, read_only=True)
        try:
            return await verify(store)
        finally:
            await store.close()

    return asyncio.run(run())


def first_bad_after_each(db: str, update: str, key: int, variants: list[object]) -> set[int | None]:
    """Store each variant in turn with `update` (params: value, key), verify after each, and
    put the original back; the set of seqs verify named."""

    async def run() -> set[int | None]:
        named: set[int | None] = set()
        store = await open_store(db, read_only=True)
        try:
            async with behind_the_back(db) as change:
                for value in variants:
                    await change(update, (value, key))
                    named.add((await verify(store)).first_bad_seq)
        finally:
            await store.close()
        return named

    return asyncio.run(run())


def every_flip(blob: bytes) -> list[object]:
    return [flip(blob, index) for index in range(len(blob))]


@pytest.mark.parametrize(("seq", "column"), [(3, "data"), (3, "hash"), (36, "hash")])
def test_every_single_changed_byte_of_an_event_is_caught(db: str, seq: int, column: str) -> None:
    original = cell(db, f"SELECT {column} FROM events WHERE seq = ?", (seq,))
    update = f"UPDATE events SET {column} = ? WHERE seq = ?"
    assert first_bad_after_each(db, update, seq, every_flip(original)) == {seq}
    tamper(db, update, (original, seq))
    assert verify_file(db).ok


@pytest.mark.parametrize("column", ["type", "vm", "at", "actor"])
def test_every_changed_byte_of_an_integer_column_is_caught(db: str, column: str) -> None:
    seq = 12
    original = cell(db, f"SELECT {column} FROM events WHERE seq = ?", (seq,))
    width = 6 if column == "at" else 1
    variants: list[object] = [original ^ (1 << bit) for bit in range(8 * width)]
    update = f"UPDATE events SET {column} = ? WHERE seq = ?"
    assert first_bad_after_each(db, update, seq, variants) == {seq}


@pytest.mark.parametrize("column", ["body", "digest", "chain"])
def test_every_changed_byte_of_a_snapshot_is_caught(db: str, column: str) -> None:
    original = cell(db, f"SELECT {column} FROM snapshots WHERE seq = 20")
    update = f"UPDATE snapshots SET {column} = ? WHERE seq = ?"
    assert first_bad_after_each(db, update, 20, every_flip(original)) == {20}


def test_a_renamed_vm_fails_at_its_first_event(db: str) -> None:
    tamper(db, "UPDATE vms SET name = 'vm-x' WHERE name = 'vm-c'")
    report = verify_file(db)
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_a_missing_first_event_is_named(db: str) -> None:
    tamper(db, "DELETE FROM events WHERE seq = 1")
    report = verify_file(db)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert report.problem is not None and "missing" in report.problem


def test_a_snapshot_beyond_the_log_is_named(db: str) -> None:
    tamper(db, "UPDATE snapshots SET seq = 99 WHERE seq = 30")
    report = verify_file(db)
    assert (report.ok, report.first_bad_seq) == (False, 99)
