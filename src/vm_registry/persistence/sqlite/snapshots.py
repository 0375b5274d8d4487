"""The SQLite snapshot table: zlib-compressed canonical bytes, keyed by seq."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.snapshots import SnapshotInfo, packed, unpacked
from vm_registry.persistence.sqlite.errors import translate
from vm_registry.persistence.sqlite.log import SqliteEventLog


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
