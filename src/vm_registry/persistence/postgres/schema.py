"""The PostgreSQL schema, and its creation under an advisory lock (replicas start together).

The tables mirror the SQLite ones column for column, so a log moves between the two with its
bytes, seqs and hashes intact. `data` stays orjson bytes in a BYTEA (not JSONB, which would
normalise numbers and keys, and the hash chain covers the exact values); a VM id is UTF-8 in
a BYTEA too, since TEXT cannot hold every string a log may carry (NUL). One more table,
`log_head`, holds a single row: its row lock is the log's global write lock, and it carries
the head seq and chain value, so the lock holder reads the true head in the same statement.
"""

from __future__ import annotations

from typing import Final

from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.postgres.errors import Conn

SCHEMA_VERSION: Final = 1
# Any constant both sides agree on: serialises schema creation across replicas starting at once.
SCHEMA_LOCK: Final = 0x766D5F7265670001

CREATE: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vms (id INTEGER PRIMARY KEY, name BYTEA NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS actors (id INTEGER PRIMARY KEY, body BYTEA NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    type SMALLINT NOT NULL,
    vm INTEGER NOT NULL,
    at BIGINT NOT NULL,
    actor INTEGER NOT NULL,
    data BYTEA,
    hash BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_vm ON events (vm, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    seq BIGINT PRIMARY KEY,
    chain BYTEA NOT NULL,
    digest BYTEA NOT NULL,
    body BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS log_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO log_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'))
    ON CONFLICT DO NOTHING;
"""


async def migrate(conn: Conn) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        version = await _version(conn)
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"the database has schema version {version}; this release knows {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION:
            await conn.execute(CREATE)
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                str(SCHEMA_VERSION),
            )


async def _version(conn: Conn) -> int:
    exists = await conn.fetchval("SELECT to_regclass('meta') IS NOT NULL")
    if not exists:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(value) if value is not None else 0
