"""The SQLite store's snapshot table and compaction, kept apart from the log itself.

`SnapshotTables` is a mixin of `SqliteEventStore`: it needs the store's connections, its
transaction lock and its idea of where the log starts, which the store provides.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import aiosqlite

from vm_registry.persistence.sqlite_errors import translate
from vm_registry.persistence.sqlite_leftovers import record_cut_time
from vm_registry.persistence.store import SnapshotInfo, StoreCorrupt, StoreUnavailable

COMPACT_CHUNK: Final = 20_000


class SnapshotTables:
    path: Path
    _writer: aiosqlite.Connection | None
    _tx_lock: asyncio.Lock
    _first_seq: int

    def _conn(self) -> aiosqlite.Connection:
        raise NotImplementedError

    async def _rollback(self) -> None:
        raise NotImplementedError

    async def save_snapshot(self, seq: int, chain: bytes, canonical: bytes) -> None:
        if self._writer is None:
            raise StoreUnavailable(f"{self.path} is open read-only")
        # zlib releases the GIL, so compressing a large fleet does not stall the event loop.
        body = await asyncio.to_thread(zlib.compress, canonical, 1)
        digest = hashlib.sha256(canonical).digest()
        conn = self._writer
        try:
            async with self._tx_lock:
                try:
                    await conn.execute(
                        "INSERT OR REPLACE INTO snapshots (seq, chain, digest, body) "
                        "VALUES (?, ?, ?, ?)",
                        (seq, chain, digest, body),
                    )
                    await conn.commit()
                except BaseException:
                    await self._rollback()
                    raise
        except sqlite3.Error as error:
            raise translate(error, f"writing a snapshot to {self.path}", self.path) from error

    async def snapshots(self) -> list[SnapshotInfo]:
        try:
            async with self._conn().execute(
                "SELECT seq, chain, digest FROM snapshots ORDER BY seq DESC"
            ) as cur:
                rows = await cur.fetchall()
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        return [SnapshotInfo(int(seq), bytes(chain), bytes(dig)) for seq, chain, dig in rows]

    async def snapshot_body(self, seq: int) -> bytes:
        try:
            async with self._conn().execute(
                "SELECT body FROM snapshots WHERE seq = ?", (seq,)
            ) as cur:
                row = await cur.fetchone()
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        if row is None:
            raise StoreCorrupt(f"no snapshot at seq {seq}", seq)
        try:
            return await asyncio.to_thread(zlib.decompress, bytes(row[0]))
        except zlib.error as error:
            raise StoreCorrupt(
                f"snapshot at seq {seq} does not decompress: {error}", seq
            ) from error

    async def compact(self, cut: int, chain: bytes, canonical: bytes) -> int:
        """First, in one short transaction, the snapshot at the cut and the cut itself are
        recorded: from then on, readers treat everything up to the cut as gone. Then the rows
        are deleted in small transactions, so a live server's writes wait for one chunk at
        most, never for the whole deletion."""
        if self._writer is None:
            raise StoreUnavailable(f"{self.path} is open read-only")
        body = await asyncio.to_thread(zlib.compress, canonical, 1)
        digest = hashlib.sha256(canonical).digest()
        conn = self._writer
        dropped = 0
        try:
            async with self._tx_lock:
                try:
                    await conn.execute(
                        "INSERT OR REPLACE INTO snapshots (seq, chain, digest, body) "
                        "VALUES (?, ?, ?, ?)",
                        (cut, chain, digest, body),
                    )
                    # Snapshots before the cut can no longer be checked against a refold.
                    await conn.execute("DELETE FROM snapshots WHERE seq < ?", (cut,))
                    await conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_through', ?)",
                        (str(cut),),
                    )
                    await record_cut_time(conn, cut)
                    await conn.commit()
                except BaseException:
                    await self._rollback()
                    raise
            self._first_seq = max(self._first_seq, cut + 1)
            while True:
                async with self._tx_lock:
                    try:
                        cursor = await conn.execute(
                            "DELETE FROM events WHERE seq IN "
                            "(SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
                            (cut, COMPACT_CHUNK),
                        )
                        removed = cursor.rowcount
                        await conn.commit()
                    except BaseException:
                        await self._rollback()
                        raise
                dropped += removed
                if removed < COMPACT_CHUNK:
                    break
                await asyncio.sleep(0)
        except sqlite3.Error as error:
            raise translate(error, f"compacting {self.path}", self.path) from error
        return int(dropped)

    async def delete_snapshots(self, seqs: Sequence[int]) -> None:
        if self._writer is None:
            raise StoreUnavailable(f"{self.path} is open read-only")
        if not seqs:
            return
        conn = self._writer
        try:
            async with self._tx_lock:
                try:
                    await conn.executemany(
                        "DELETE FROM snapshots WHERE seq = ?", [(seq,) for seq in seqs]
                    )
                    await conn.commit()
                except BaseException:
                    await self._rollback()
                    raise
        except sqlite3.Error as error:
            raise translate(error, f"thinning snapshots in {self.path}", self.path) from error
