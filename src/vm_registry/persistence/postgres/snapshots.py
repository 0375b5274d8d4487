"""The PostgreSQL snapshot table: zlib-compressed canonical bytes, keyed by seq."""

from __future__ import annotations

from collections.abc import Sequence

from vm_registry.persistence.postgres.errors import translated
from vm_registry.persistence.postgres.log import PostgresEventLog
from vm_registry.persistence.snapshots import packed
from vm_registry.persistence.sql.snapshots import SqlSnapshotReads

UPSERT = (
    "INSERT INTO snapshots (seq, chain, digest, body) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (seq) DO UPDATE SET chain = EXCLUDED.chain, digest = EXCLUDED.digest, "
    "body = EXCLUDED.body"
)


class PostgresSnapshots(SqlSnapshotReads):
    def __init__(self, log: PostgresEventLog) -> None:
        super().__init__(log)
        self.log = log

    async def save(self, seq: int, chain: bytes, canonical: bytes) -> None:
        pool = self.log.writable()
        body, digest = await packed(canonical)
        async with translated(f"writing a snapshot to {self.log.name}"):
            await pool.execute(UPSERT, seq, chain, digest, body)

    async def delete(self, seqs: Sequence[int]) -> None:
        pool = self.log.writable()
        if not seqs:
            return
        async with translated(f"thinning snapshots in {self.log.name}"):
            await pool.execute("DELETE FROM snapshots WHERE seq = ANY($1::bigint[])", list(seqs))
