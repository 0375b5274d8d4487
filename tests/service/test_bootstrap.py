"""Startup replay (`service/bootstrap.py`): it pauses the cyclic collector while it folds, and
leaves it as it found it, whatever happens."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.domain.strategies import T0
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, fold
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import EventLog, ReplayChunk
from vm_registry.persistence.store import open_store
from vm_registry.service.bootstrap import replay

LOG = [
    Event(1, ev.REGISTERED, "vm-1", T0, {}, {"name": "a", "role": "worker", "address": "a",
                                             "registeredBy": "tests"}),
    Event(2, ev.HEARTBEAT, "vm-1", T0 + 1),
    Event(3, ev.HEARTBEAT, "vm-1", T0 + 2),
]  # fmt: skip


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


async def written(path: Path) -> None:
    store = await open_store(path)
    try:
        async with store.log.locked() as tx:
            await tx.append(LOG)
    finally:
        await store.close()


class Watching:
    """A log whose replay records whether the collector was on while each chunk was read."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seen: list[bool] = []

    async def scan_for_replay(self, after: int = 0) -> AsyncIterator[ReplayChunk]:
        async for chunk in self.log.scan_for_replay(after):
            self.seen.append(gc.isenabled())
            yield chunk


async def test_the_collector_is_off_while_folding_and_on_again_after(
    tmp_path: Path, collector_on: None
) -> None:
    await written(tmp_path / "log.db")
    store = await open_store(tmp_path / "log.db")
    try:
        watching = Watching(store.log)
        state = await replay(watching, State())  # type: ignore[arg-type]
    finally:
        await store.close()
    assert state == fold(LOG)
    assert watching.seen == [False]
    assert gc.isenabled()


async def test_a_corrupt_log_stops_replay_and_still_turns_the_collector_back_on(
    tmp_path: Path, collector_on: None
) -> None:
    await written(tmp_path / "log.db")
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn, conn:
        conn.execute("UPDATE events SET vm = 999 WHERE seq = 2")
    store = await open_store(tmp_path / "log.db")
    try:
        with pytest.raises(StoreCorrupt):
            await replay(store.log)
    finally:
        await store.close()
    assert gc.isenabled()


async def test_a_collector_that_was_off_stays_off(tmp_path: Path, collector_on: None) -> None:
    await written(tmp_path / "log.db")
    store = await open_store(tmp_path / "log.db")
    gc.disable()
    try:
        await replay(store.log)
        assert not gc.isenabled()
    finally:
        gc.enable()
        await store.close()
