"""Snapshot + tail equals a full refold, over random logs, snapshot points and corruptions.

Each example writes a random log to a fresh SQLite file through the store, stores true
snapshots at random seqs, spoils some of them, and then asks every reader of the log (startup's
`load_state`, the server's `TimeMachine`, offline `replay`) for the state at random points.
Each must equal a plain fold of the events up to that point: a spoiled snapshot may cost time,
never correctness.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.audit.logs import tamper, write
from tests.domain.strategies import event_logs
from vm_registry.audit import replay
from vm_registry.audit.compact import compact
from vm_registry.audit.verify import verify
from vm_registry.domain import snapshot
from vm_registry.domain.errors import Gone
from vm_registry.domain.events import Event
from vm_registry.domain.fold import fold
from vm_registry.persistence.store import Store, open_store
from vm_registry.service.snapshots import load_state
from vm_registry.service.time_machine import TimeMachine

SPOILS = ("body", "digest", "chain", "revision")


def spoil(path: Path, seq: int, how: str, log: list[Event]) -> None:
    where = "WHERE seq = ?"
    if how == "body":  # bit rot: the bytes no longer match the digest
        tamper(path, f"UPDATE snapshots SET body = ? {where}", (zlib.compress(b"{}"), seq))
    elif how == "digest":
        tamper(path, f"UPDATE snapshots SET digest = zeroblob(32) {where}", (seq,))
    elif how == "chain":  # a snapshot of some other log
        tamper(path, f"UPDATE snapshots SET chain = zeroblob(32) {where}", (seq,))
    else:  # self-consistent, but of the wrong point in the log
        body = snapshot.encode(fold(log[: seq - 1]))
        digest = hashlib.sha256(body).digest()
        tamper(
            path,
            f"UPDATE snapshots SET body = ?, digest = ? {where}",
            (zlib.compress(body), digest, seq),
        )


@st.composite
def logs_with_snapshots(draw: st.DrawFn) -> tuple[list[Event], dict[int, str | None]]:
    """A log, and the seqs holding a snapshot, each with how it is spoiled (None: intact)."""
    log = draw(event_logs(max_commands=30))
    if not log:
        return log, {}
    seqs = draw(st.sets(st.integers(1, len(log)), max_size=4))
    return log, {seq: draw(st.none() | st.sampled_from(SPOILS)) for seq in sorted(seqs)}


async def stored(
    folder: Path, log: list[Event], snapshots: dict[int, str | None], batch: int
) -> Store:
    path = folder / "registry.db"
    await write(path, log, snapshots, batch=batch)
    for seq, how in snapshots.items():
        if how is not None:
            spoil(path, seq, how, log)
    return await open_store(path)


@settings(max_examples=30, deadline=None)
@given(logs_with_snapshots(), st.integers(1, 10), st.data())
def test_snapshot_plus_tail_equals_a_full_refold(
    logged: tuple[list[Event], dict[int, str | None]], batch: int, data: st.DataObject
) -> None:
    log, snapshots = logged
    points = data.draw(st.lists(st.integers(0, len(log)), min_size=1, max_size=5), label="at")

    async def check(folder: Path) -> None:
        store = await stored(folder, log, snapshots, batch)
        try:
            live = await load_state(store)
            assert live == fold(log)
            history = TimeMachine(store, live)
            for point in points:
                expected = fold(log[:point])
                assert await history.state_at(point) == expected
                assert await replay.state_at(store, point) == expected
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(check(Path(folder)))


@settings(max_examples=25, deadline=None)
@given(logs_with_snapshots(), st.data())
def test_after_compaction_every_retained_point_still_equals_a_full_refold(
    logged: tuple[list[Event], dict[int, str | None]], data: st.DataObject
) -> None:
    log, snapshots = logged
    intact = {seq: None for seq in snapshots}
    cut = data.draw(st.integers(0, len(log)), label="cut")
    before = data.draw(st.lists(st.integers(0, len(log)), max_size=3), label="asked before")
    after = data.draw(st.lists(st.integers(0, len(log)), min_size=1, max_size=5), label="after")

    async def check(folder: Path) -> None:
        store = await stored(folder, log, intact, batch=5)
        try:
            live = await load_state(store)
            # One TimeMachine across the compaction, as in a running server.
            history = TimeMachine(store, live)
            for point in before:
                await history.state_at(point)
            await compact(store, cut)
            assert (await verify(store)).ok
            assert await load_state(store) == fold(log)
            for point in after:
                if point < cut:
                    with pytest.raises(Gone):
                        await history.state_at(point)
                    with pytest.raises(Gone):
                        await replay.state_at(store, point)
                else:
                    expected = fold(log[:point])
                    assert await history.state_at(point) == expected
                    assert await replay.state_at(store, point) == expected
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(check(Path(folder)))
