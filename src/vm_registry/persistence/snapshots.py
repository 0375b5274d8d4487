"""The snapshot store: saved projections, each anchored to the hash chain at its seq.

Every backend stores a snapshot the same way: zlib-compressed canonical bytes and their digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vm_registry.persistence.errors import StoreCorrupt


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


async def packed(canonical: bytes) -> tuple[bytes, bytes]:
    """(compressed body, digest). zlib and hashlib release the GIL, so neither stalls the
    event loop on a large fleet (hashing 30 MB on the loop took tens of milliseconds)."""
    body = await asyncio.to_thread(zlib.compress, canonical, 1)
    return body, await asyncio.to_thread(_sha256, canonical)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def unpacked(seq: int, body: bytes) -> bytes:
    try:
        return await asyncio.to_thread(zlib.decompress, body)
    except zlib.error as error:
        raise StoreCorrupt(f"snapshot at seq {seq} does not decompress: {error}", seq) from error
