"""Reading the snapshot table, the same on every SQL backend; writing it is each backend's
(an upsert is dialect, and SQLite's writes share the writer's connection)."""

from __future__ import annotations

from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.snapshots import SnapshotInfo, unpacked
from vm_registry.persistence.sql.reading import SqlReads


class SqlSnapshotReads:
    def __init__(self, log: SqlReads) -> None:
        self.reads = log

    async def infos(self) -> list[SnapshotInfo]:
        rows = await self.reads.fetch("SELECT seq, chain, digest FROM snapshots ORDER BY seq DESC")
        return [SnapshotInfo(int(seq), bytes(chain), bytes(dig)) for seq, chain, dig in rows]

    async def body(self, seq: int) -> bytes:
        rows = await self.reads.fetch("SELECT body FROM snapshots WHERE seq = ?", (seq,))
        if not rows:
            raise StoreCorrupt(f"no snapshot at seq {seq}", seq)
        return await unpacked(seq, bytes(rows[0][0]))
