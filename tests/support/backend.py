"""Which backend the suite's registries run on: SQLite (the default) or PostgreSQL.

`make test` runs every test on SQLite files. `make test-postgres` (CI runs both) sets
`VM_REGISTRY_TEST_BACKEND=postgres` and runs the same tests again with each registry on a
PostgreSQL database of its own: a test still names a file path (`tmp_path / "registry.db"`),
and `target` maps that path to a fresh database, the same one every time it is asked, so a
server restarted on "the same file" finds its log again. The databases are dropped when the
session ends.

Tests that handle the SQLite file itself (tearing its WAL, deleting it, filling its disk,
copying it) are marked `sqlite_only` and skip, with that reason, on PostgreSQL; the PostgreSQL
forms of those faults have tests of their own (tests/persistence, tests/replicas).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.support import postgres

BACKEND = os.environ.get("VM_REGISTRY_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"VM_REGISTRY_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")

ON_POSTGRES = BACKEND == "postgres"

# The SQLite-file-only tests, skipped on PostgreSQL with the reason given.
sqlite_only = pytest.mark.skipif(
    ON_POSTGRES, reason="handles the SQLite file itself; PostgreSQL's form is tested elsewhere"
)


def sqlite_only_because(why: str) -> pytest.MarkDecorator:
    """`sqlite_only` with the test's own reason: what it does to the file, and what stands for
    it on PostgreSQL."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {why}")


_databases: dict[Path, str] = {}


def target(db: Path) -> str:
    """What `--db` (or `open_store`) is given for the registry a test keeps at `db`."""
    if not ON_POSTGRES:
        return str(db)
    db = db.resolve()
    url = _databases.get(db)
    if url is None:
        # Named by the path (and this process), so two sessions never share one.
        digest = hashlib.sha1(str(db).encode()).hexdigest()[:12]
        url = postgres.create_database(f"vmreg_suite_{os.getpid()}_{digest}")
        _databases[db] = url
    return url


def execute(db: Path, sql: str) -> None:
    """Run `sql` on the registry a test keeps at `db` from outside its server, as a stranger
    would (to damage the log, or make it refuse something). The SQL is the backend's own:
    the caller picks it with `ON_POSTGRES`."""
    if ON_POSTGRES:
        postgres.execute_now(target(db), sql)
        return
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.executescript(sql)


def drop_all() -> None:
    while _databases:
        _, url = _databases.popitem()
        postgres.drop_database(url)
