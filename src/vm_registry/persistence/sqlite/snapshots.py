"""The SQLite snapshot table: zlib-compressed canonical bytes, keyed by seq. Writes go through
the log's writer connection, one short transaction each, between the writer's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sql.snapshots import SqlSnapshotReads
from vm_registry.persistence.sqlite.errors import translated
from vm_registry.persistence.sqlite.log import SqliteEventLog


class SqliteSnapshots(SqlSnapshotReads):
    def __init__(self, log: SqliteEventLog) -> None:
        super().__init__(log)
        self.log = log

    async def save(self, seq: int, chain: bytes, canonical: bytes) -> None:
        self.log.writable()
        body, digest = await packed(canonical)
        await self._write(
            f"writing a snapshot to {self.log.path}",
            "INSERT OR REPLACE INTO snapshots (seq, chain, digest, body) VALUES (?, ?, ?, ?)",
            [(seq, chain, digest, body)],
        )

    async def delete(self, seqs: Sequence[int]) -> None:
        self.log.writable()
        if seqs:
            await self._write(
                f"thinning snapshots in {self.log.path}",
                "DELETE FROM snapshots WHERE seq = ?",
                [(seq,) for seq in seqs],
            )

    async def _write(self, doing: str, sql: str, rows: list[tuple[Any, ...]]) -> None:
        conn = self.log.writable()
        with translated(doing, self.log.path):
            async with self.log.tx_lock:
                try:
                    await conn.executemany(sql, rows)
                    await conn.commit()
                except BaseException:
                    await self.log.rollback()
                    raise
