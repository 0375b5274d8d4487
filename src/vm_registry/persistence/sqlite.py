"""The SQLite backend, through aiosqlite, in WAL mode.

Layout (schema version 1):
- `events(seq, type, vm, at, actor, data, hash)`: the log. `seq` is the rowid, so it costs no
  extra index. `type` is a small integer, `vm` and `actor` point into intern tables, `data` is
  NULL for heartbeats. A heartbeat row is about 50 bytes plus its hash.
- `vms(id, name)` and `actors(id, body)`: each VM id and each distinct actor is stored once.
- `meta(key, value)`: schema version and the compaction point.

`at` never decreases with `seq` (the writer guarantees it), so a time is found by a binary
search over the primary key instead of another index.

Durability: commits are group commits made by the single writer. With the default
`synchronous=NORMAL` in WAL mode a commit is in the operating system once it returns, so it
survives `kill -9` of the server; a power cut may lose the last few commits. `FULL` fsyncs the
WAL on every commit and survives power loss too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite
import orjson

from vm_registry.domain.events import (
    CODE_TYPES,
    HEARTBEAT,
    TYPE_CODES,
    Event,
    canonical_bytes,
    decode_data,
    encode_data,
)
from vm_registry.persistence.sqlite_errors import translate
from vm_registry.persistence.sqlite_file_identity import LogFileIdentity
from vm_registry.persistence.sqlite_leftovers import cut_time, remove_compacted_rows
from vm_registry.persistence.sqlite_schema import SCHEMA_VERSION, upgrade_script
from vm_registry.persistence.sqlite_snapshots import SnapshotTables
from vm_registry.persistence.store import (
    GENESIS_HASH,
    EventQuery,
    NewEvent,
    StoreCorrupt,
    StoreUnavailable,
    Touch,
)

SCAN_CHUNK: Final = 20_000
REPLAY_CHUNK: Final = 50_000
INT64_MAX: Final = (1 << 63) - 1
SYNCHRONOUS_MODES: Final = ("NORMAL", "FULL")

_COLUMNS: Final = "seq, type, vm, at, actor, data"
_SELECT: Final = f"SELECT {_COLUMNS} FROM events"


def _int64(number: int) -> int:
    """Positions and limits from a client may exceed what SQLite can bind (OverflowError, a
    500); past the largest seq any log can reach, a bigger number means the same."""
    return max(min(number, INT64_MAX), -INT64_MAX)


class SqliteEventStore(SnapshotTables):
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 2000,
        read_only: bool = False,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._head = 0
        self._first_seq = 1
        self._last_hash = GENESIS_HASH
        self._vm_ids: dict[str, int] = {}
        self._vm_names: dict[int, str] = {}
        self._actor_ids: dict[bytes, int] = {}
        self._actor_bodies: dict[int, dict[str, Any]] = {}
        # Transactions span several awaits on the one writer connection; this keeps a
        # snapshot write from landing inside an append's transaction.
        self._tx_lock = asyncio.Lock()
        self._last_vm = 0
        self._last_actor = 0
        self.file_identity = LogFileIdentity(self.path)  # noticing a deleted or replaced file

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            if self.read_only:
                uri = f"file:{self.path}?mode=ro"
                self._reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file_identity.before_open()
                # The sqlite3 module opens "BEGIN IMMEDIATE" by itself before the first write,
                # which saves a round trip to aiosqlite's thread per group commit.
                self._writer = await aiosqlite.connect(self.path, isolation_level="IMMEDIATE")
                await self._configure(self._writer)
                await self._migrate(self._writer)
                self.file_identity.opened()
                await remove_compacted_rows(self._writer)
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            await self._load_position()
            await self._refresh_interns()
        except sqlite3.Error as error:
            await self.close()
            raise translate(error, f"opening {self.path}", self.path) from error

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"{self.path} has schema version {version}; this release knows {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION:
            await conn.executescript(upgrade_script(version))

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    await conn.close()
        self._writer = self._reader = None

    # -- position --------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self._head

    @property
    def first_seq(self) -> int:
        return self._first_seq

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    def _conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreUnavailable(f"{self.path} is not open")
        return self._reader

    async def _load_position(self) -> None:
        conn = self._conn()
        async with conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1") as cur:
            last = await cur.fetchone()
        async with conn.execute("SELECT MIN(seq) FROM events") as cur:
            first = await cur.fetchone()
        async with conn.execute("SELECT value FROM meta WHERE key = 'compacted_through'") as cur:
            compacted = await cur.fetchone()
        floor = int(compacted[0]) if compacted else 0
        if last is None:
            self._head, self._last_hash = floor, GENESIS_HASH
            self._first_seq = floor + 1
            if floor:  # compacted down to nothing: the chain continues from the cut
                async with conn.execute(
                    "SELECT chain FROM snapshots WHERE seq = ?", (floor,)
                ) as cur:
                    at_cut = await cur.fetchone()
                if at_cut is None:
                    raise StoreCorrupt(f"{self.path}: no snapshot at the compaction point {floor}")
                self._last_hash = bytes(at_cut[0])
        else:
            self._head, self._last_hash = int(last[0]), bytes(last[1])
            lowest = int(first[0]) if first and first[0] is not None else floor + 1
            # A compaction deletes in chunks after recording its cut: rows at or below the cut
            # may linger for a moment, but they are already gone as far as anyone can see.
            self._first_seq = max(lowest, floor + 1)

    async def _refresh_interns(self) -> None:
        conn = self._conn()
        async with conn.execute("SELECT id, name FROM vms") as cur:
            for key, name in await cur.fetchall():
                self._vm_ids[name] = key
                self._vm_names[key] = name
                self._last_vm = max(self._last_vm, key)
        async with conn.execute("SELECT id, body FROM actors") as cur:
            for key, body in await cur.fetchall():
                self._actor_ids[bytes(body)] = key
                self._actor_bodies[key] = orjson.loads(body)
                self._last_actor = max(self._last_actor, key)

    # -- writing ---------------------------------------------------------------------------

    async def append(self, batch: Sequence[NewEvent]) -> list[Event]:
        if self._writer is None:
            raise StoreUnavailable(f"{self.path} is open read-only")
        if not batch:
            return []
        self.file_identity.check()
        new_vms: dict[str, int] = {}
        new_actors: dict[bytes, int] = {}
        next_vm = self._last_vm + 1
        next_actor = self._last_actor + 1
        events: list[Event] = []
        rows: list[tuple[int, int, int, int, int, bytes | None, bytes]] = []
        seq, chain = self._head, self._last_hash
        for item in batch:
            seq += 1
            vm = self._vm_ids.get(item.vm_id) or new_vms.get(item.vm_id)
            if vm is None:
                vm = new_vms[item.vm_id] = next_vm
                next_vm += 1
            actor_body = orjson.dumps(item.actor, option=orjson.OPT_SORT_KEYS)
            actor = self._actor_ids.get(actor_body) or new_actors.get(actor_body)
            if actor is None:
                actor = new_actors[actor_body] = next_actor
                next_actor += 1
            event = Event(seq, item.type, item.vm_id, item.at, item.actor, item.data)
            chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
            rows.append(
                (seq, TYPE_CODES[item.type], vm, item.at, actor, encode_data(item.data), chain)
            )
            events.append(event)
        conn = self._writer
        try:
            async with self._tx_lock:
                await self._append_rows(conn, new_vms, new_actors, rows)
        except sqlite3.Error as error:
            raise translate(error, f"appending to {self.path}", self.path) from error
        self.file_identity.check()  # committed into a deleted file is not durable: no 2xx
        # Only now, with the batch durable, does the in-memory position move.
        for name, key in new_vms.items():
            self._vm_ids[name] = key
            self._vm_names[key] = name
        for body, key in new_actors.items():
            self._actor_ids[body] = key
            self._actor_bodies[key] = orjson.loads(body)
        self._last_vm, self._last_actor = next_vm - 1, next_actor - 1
        self._head, self._last_hash = seq, chain
        return events

    async def _append_rows(
        self,
        conn: aiosqlite.Connection,
        new_vms: dict[str, int],
        new_actors: dict[bytes, int],
        rows: list[tuple[int, int, int, int, int, bytes | None, bytes]],
    ) -> None:
        try:
            if new_vms:
                await conn.executemany(
                    "INSERT INTO vms (id, name) VALUES (?, ?)",
                    [(key, name) for name, key in new_vms.items()],
                )
            if new_actors:
                await conn.executemany(
                    "INSERT INTO actors (id, body) VALUES (?, ?)",
                    [(key, body) for body, key in new_actors.items()],
                )
            await conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            await conn.commit()
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        assert self._writer is not None
        try:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    # -- reading ---------------------------------------------------------------------------

    def _decode(self, row: sqlite3.Row | tuple[Any, ...]) -> Event:
        seq, code, vm, at, actor, data = row
        kind = CODE_TYPES.get(code)
        if kind is None:
            raise StoreCorrupt(f"event {seq} has an unknown type code {code!r}", seq)
        # KeyError here means an intern row this connection has not seen yet (see below).
        name, who = self._vm_names[vm], self._actor_bodies[actor]
        if not isinstance(at, int):
            raise StoreCorrupt(f"event {seq} has a non-integer time {at!r}", seq)
        try:
            return Event(seq, kind, name, at, who, decode_data(data))
        except (ValueError, TypeError) as error:
            raise StoreCorrupt(f"event {seq} does not decode: {error}", seq) from error

    async def _decode_rows(self, rows: Sequence[Any]) -> list[Event]:
        try:
            return [self._decode(row) for row in rows]
        except KeyError:
            # A row committed by the writer before our intern caches caught up.
            await self._refresh_interns()
        events = []
        for row in rows:
            try:
                events.append(self._decode(row))
            except KeyError as error:
                raise StoreCorrupt(
                    f"event {row[0]} refers to a missing VM or actor {error}", row[0]
                ) from error
        return events

    async def read(self, query: EventQuery) -> list[Event]:
        clauses = ["seq > ?"]
        params: list[Any] = [_int64(query.after)]
        if query.upto is not None:
            clauses.append("seq <= ?")
            params.append(_int64(query.upto))
        if query.vm_id is not None:
            vm = self._vm_ids.get(query.vm_id)
            if vm is None:
                await self._refresh_interns()
                vm = self._vm_ids.get(query.vm_id)
            if vm is None:
                return []
            clauses.append("vm = ?")
            params.append(vm)
        if query.types is not None:
            clauses.append(f"type IN ({', '.join('?' for _ in query.types)})")
            params.extend(TYPE_CODES[t] for t in query.types)
        if query.since is not None:
            clauses.append("at >= ?")
            params.append(query.since)
        if query.until is not None:
            clauses.append("at <= ?")
            params.append(query.until)
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
        params.append(_int64(query.limit))
        try:
            async with self._conn().execute(sql, params) as cursor:
                rows = list(await cursor.fetchall())
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        return await self._decode_rows(rows)

    async def _pages(self, columns: str, after: int, upto: int | None) -> AsyncIterator[list[Any]]:
        """Raw rows after `after` (up to `upto`) in seq order, `SCAN_CHUNK` at a time."""
        position = after
        limit_seq = upto if upto is not None else (1 << 62)
        while True:
            try:
                async with self._conn().execute(
                    f"SELECT {columns} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (position, limit_seq, SCAN_CHUNK),
                ) as cursor:
                    rows = list(await cursor.fetchall())
            except sqlite3.Error as error:
                raise translate(error, f"reading {self.path}", self.path) from error
            if not rows:
                return
            yield rows
            position = rows[-1][0]
            if len(rows) < SCAN_CHUNK:
                return

    async def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        async for rows in self._pages(_COLUMNS, after, upto):
            yield await self._decode_rows(rows)

    async def compacted_at(self) -> tuple[int, int] | None:
        """(cut, time of its event) of the last compaction, if recorded (`asOf` near the cut)."""
        try:
            return await cut_time(self._conn())
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error

    async def seq_at_time(self, at: int) -> int:
        conn = self._conn()
        try:
            async with conn.execute(
                "SELECT seq FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (self._first_seq,)
            ) as cur:
                first = await cur.fetchone()
            if first is None:
                return self._first_seq - 1
            low, high = int(first[0]), self._head
            answer = low - 1
            # Binary search on seq: `at` is non-decreasing along the log.
            while low <= high:
                middle = (low + high) // 2
                async with conn.execute("SELECT at FROM events WHERE seq = ?", (middle,)) as cur:
                    row = await cur.fetchone()
                if row is None:
                    raise StoreCorrupt(f"{self.path}: seq {middle} is missing", middle)
                if int(row[0]) <= at:
                    answer, low = middle, middle + 1
                else:
                    high = middle - 1
            return answer
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error

    # -- verification, snapshots and compaction --------------------------------------------

    async def scan_hashes(
        self, after: int = 0, upto: int | None = None
    ) -> AsyncIterator[list[tuple[Event, bytes]]]:
        async for rows in self._pages(_COLUMNS + ", hash", after, upto):
            events = await self._decode_rows([row[:6] for row in rows])
            yield [(event, bytes(row[6])) for event, row in zip(events, rows, strict=True)]

    async def hash_at(self, seq: int) -> bytes | None:
        try:
            async with self._conn().execute("SELECT hash FROM events WHERE seq = ?", (seq,)) as cur:
                row = await cur.fetchone()
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        return None if row is None else bytes(row[0])

    async def vm_known(self, vm_id: str) -> bool:
        if vm_id not in self._vm_ids:
            await self._refresh_interns()
        return vm_id in self._vm_ids

    async def refresh_first_seq(self) -> int:
        try:
            await self._load_position_floor()
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        return self._first_seq

    async def _load_position_floor(self) -> None:
        conn = self._conn()
        async with conn.execute("SELECT value FROM meta WHERE key = 'compacted_through'") as cur:
            compacted = await cur.fetchone()
        if compacted is not None:
            self._first_seq = max(self._first_seq, int(compacted[0]) + 1)

    # -- startup ---------------------------------------------------------------------------

    async def scan_for_replay(self, after: int = 0) -> AsyncIterator[list[Event | Touch]]:
        """Like `scan`, but a heartbeat comes as a plain `(seq, vm_id, at)` tuple instead of an
        Event: startup replays a million of them, and they carry nothing else."""
        position = after
        heartbeat = TYPE_CODES[HEARTBEAT]
        while True:
            try:
                async with self._conn().execute(
                    f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (position, REPLAY_CHUNK)
                ) as cursor:
                    rows = list(await cursor.fetchall())
            except sqlite3.Error as error:
                raise translate(error, f"reading {self.path}", self.path) from error
            if not rows:
                return
            names = self._vm_names
            chunk: list[Event | Touch] = []
            try:
                for row in rows:
                    if row[1] == heartbeat:
                        chunk.append((row[0], names[row[2]], row[3]))
                    else:
                        chunk.append(self._decode(row))
            except KeyError:
                chunk = [
                    (e.seq, e.vm_id, e.at) if e.type == HEARTBEAT else e
                    for e in await self._decode_rows(rows)
                ]
            yield chunk
            position = rows[-1][0]
            if len(rows) < REPLAY_CHUNK:
                return
