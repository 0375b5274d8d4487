"""The SQLite snapshot table: zlib-compressed canonical bytes, keyed by seq."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import zlib
from collections.abc import Sequence

from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.snapshots import SnapshotInfo
from vm_registry.persistence.sqlite.errors import translate
from vm_registry.persistence.sqlite.log import SqliteEventLog


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


class SqliteSnapshots:
    def __init__(self, log: SqliteEventLog) -> None:
        self.log = log

    async def save(self, seq: int, chain: bytes, canonical: bytes) -> None:
        conn = self.log.writable()
        body, digest = await packed(canonical)
        try:
            async with self.log.tx_lock:
                try:
                    await conn.execute(
                        "INSERT OR REPLACE INTO snapshots (seq, chain, digest, body) "
                        "VALUES (?, ?, ?, ?)",
                        (seq, chain, digest, body),
                    )
                    await conn.commit()
                except BaseException:
                    await self.log.rollback()
                    raise
        except sqlite3.Error as error:
            path = self.log.path
            raise translate(error, f"writing a snapshot to {path}", path) from error

    async def infos(self) -> list[SnapshotInfo]:
        rows = await self.log.fetch(
            "SELECT seq, chain, digest FROM snapshots ORDER BY seq DESC", ()
        )
        return [SnapshotInfo(int(seq), bytes(chain), bytes(dig)) for seq, chain, dig in rows]

    async def body(self, seq: int) -> bytes:
        rows = await self.log.fetch("SELECT body FROM snapshots WHERE seq = ?", (seq,))
        if not rows:
            raise StoreCorrupt(f"no snapshot at seq {seq}", seq)
        return await unpacked(seq, bytes(rows[0][0]))

    async def delete(self, seqs: Sequence[int]) -> None:
        conn = self.log.writable()
        if not seqs:
            return
        try:
            async with self.log.tx_lock:
                try:
                    await conn.executemany(
                        "DELETE FROM snapshots WHERE seq = ?", [(seq,) for seq in seqs]
                    )
                    await conn.commit()
                except BaseException:
                    await self.log.rollback()
                    raise
        except sqlite3.Error as error:
            path = self.log.path
            raise translate(error, f"thinning snapshots in {path}", path) from error
