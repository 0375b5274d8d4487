"""A snapshot of a large fleet is encoded one piece per commit of the writer, never in a run
of pieces that would keep a commit waiting for the GIL (docs/benchmarks.md, P4)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain import snapshot
from vm_registry.domain.model import Entry
from vm_registry.service import snapshots
from vm_registry.service.snapshots import Snapshotter

DATA = {"name": "a", "role": "worker", "address": "a.vm.vers.sh", "registeredBy": "tests"}


async def test_pieces_wait_for_commits_and_the_snapshot_still_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await Service(tmp_path / "registry.db", FakeClock(T0)).start()
    try:
        for n in range(5):
            await service.execute(cmd.Register(f"vm-{n}", DATA))
        encoded: list[bytes] = []
        whole = snapshot.encode_pieces

        def one_row_a_piece(entries: Sequence[Entry], revision: int) -> Iterator[bytes]:
            for piece in whole(entries, revision, rows_per_piece=1):
                encoded.append(piece)
                yield piece

        monkeypatch.setattr(snapshot, "encode_pieces", one_row_a_piece)
        monkeypatch.setattr(snapshots, "PIECE_PAUSE", 30.0)  # a writer that commits, not idles
        taker = Snapshotter(service.store, service.state, every=5, last_seq=0)

        taker.observe([])  # the commit that reaches `every`: the snapshot starts
        await asyncio.sleep(0.05)
        assert len(encoded) == 1  # the opening piece, then it waits for the commit in flight
        for commits in range(1, 4):
            taker.observe([])
            await asyncio.sleep(0.05)
            assert len(encoded) == 1 + commits  # one more piece per commit, no more

        monkeypatch.setattr(snapshots, "PIECE_PAUSE", 0.001)  # the writer goes idle
        taker.observe([])
        await asyncio.wait_for(taker.final(), 10)
        assert len(encoded) == 7  # opening, five rows, closing
        infos = await service.store.snapshots.infos()
        assert [info.seq for info in infos] == [service.registry.revision]
    finally:
        await service.stop()
