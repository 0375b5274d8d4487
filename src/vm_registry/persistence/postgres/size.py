"""The log's bytes on disk on PostgreSQL: what its tables take, their indexes and TOAST included.

SQLite's figure is a `stat` of two files, cheap enough to read at scrape time. Here it is a
query, and a Prometheus collector is synchronous: it must not wait on the database (nor may
anything block the event loop on one). So `measure()` asks PostgreSQL and keeps the answer,
and `latest()` hands the kept figure to the collector. The metrics route awaits `measure()`
before it renders (as it does for the newest snapshot), bounded by `MEASURE_TIMEOUT`: a slow
or absent database keeps the last figure rather than holding the scrape, and the database's
trouble shows on `/health` and in the 503s instead.

It counts every table of the schema (`schema.py`), so it answers the same question as the
SQLite file does: how much the registry's log holds, compaction's effect included once
PostgreSQL has reused or returned the space (VACUUM). It does not count the server's own WAL
or catalogs, which belong to the cluster, not to this log.
"""

from __future__ import annotations

import asyncio
from typing import Final

from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.sql.reading import SqlReads

TABLES: Final = ("events", "snapshots", "vms", "actors", "meta", "log_head")
# `to_regclass` is NULL for a table not there yet (a read-only server on an empty database),
# and `sum` skips it, rather than the query failing.
QUERY: Final = (
    "SELECT sum(pg_total_relation_size(to_regclass(name)))::bigint FROM unnest(?::text[]) AS name"
)
MEASURE_TIMEOUT: Final = 2.0


class LogSize:
    def __init__(self, log: SqlReads) -> None:
        self.log = log
        self._bytes: int | None = None

    def latest(self) -> int | None:
        """The figure of the last measurement that succeeded; None before the first."""
        return self._bytes

    async def measure(self) -> None:
        try:
            async with asyncio.timeout(MEASURE_TIMEOUT):
                rows = await self.log.fetch(QUERY, [list(TABLES)])
        except (StoreError, TimeoutError):
            return  # keep the last figure
        value = rows[0][0] if rows else None
        if value is not None:
            self._bytes = int(value)
