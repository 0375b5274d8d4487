"""The snapshot store: saved projections, each anchored to the hash chain at its seq."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    seq: int
    chain: bytes  # the hash chain's value at `seq`, so the chain stays checkable after compaction
    digest: bytes  # sha256 of the snapshot's canonical bytes


class SnapshotStore(Protocol):
    async def save(self, seq: int, chain: bytes, canonical: bytes) -> None:
        """Store (or replace) the snapshot at `seq`."""

    async def infos(self) -> list[SnapshotInfo]:
        """Every stored snapshot, newest first."""

    async def body(self, seq: int) -> bytes:
        """The canonical bytes of the snapshot at `seq` (`StoreCorrupt` if there is none)."""

    async def delete(self, seqs: Sequence[int]) -> None: ...
