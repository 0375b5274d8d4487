"""`vm-registry backup | restore`: consistent copies of the event log, verified before they count.

A SQLite backup is done only once the copy passed SQLite's integrity check and the registry's
own verification (hash chain, seqs, events, snapshots: what `vm-registry verify` checks); a
restore checks the backup the same way before it touches the target. A PostgreSQL backup is a
pg_dump archive, done once pg_restore has read every table of it back; it is not checked
against the hash chain until it is restored into a database and verified there (the commands
are in docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from vm_registry.audit.verify import Report, verify
from vm_registry.backup import postgres_dump, sqlite_copy
from vm_registry.backup.sqlite_copy import BackupError
from vm_registry.cli.progress import ProgressBar
from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.store import open_store
from vm_registry.persistence.targets import is_postgres_url


def register(subparsers: Any) -> None:
    save = subparsers.add_parser(
        "backup",
        help="copy the event log while the server runs, and verify the copy",
        description="Copy the event log while the server runs (SQLite's online backup API, or "
        "pg_dump for a PostgreSQL URL), and verify the copy before saying it is done.",
    )
    save.add_argument(
        "--db", required=True, help="the registry's SQLite file, or a postgresql:// URL"
    )
    save.add_argument("--to", type=Path, required=True, metavar="FILE", help="where the copy goes")
    save.add_argument("--force", action="store_true", help="replace FILE if it exists")
    save.set_defaults(func=_backup)

    load = subparsers.add_parser(
        "restore",
        help="put a verified backup in place of a stopped registry's log",
        description="Verify a backup, then write it to --db. Refuses a database a process has "
        "open, and one that holds events unless --force is given.",
    )
    load.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE",
                      help="the backup to restore (as `backup --to` wrote it)")  # fmt: skip
    load.add_argument("--db", required=True, help="the SQLite file to restore into")
    load.add_argument("--force", action="store_true", help="overwrite a log that holds events")
    load.set_defaults(func=_restore)


def _fail(message: str, code: int = 1) -> int:
    print(f"vm-registry: {message}", file=sys.stderr, flush=True)
    return code


def _verified(path: Path, label: str) -> Report:
    """SQLite's integrity check, then the registry's chain verification, of a whole file."""
    sqlite_copy.check_integrity(path)

    async def chain() -> Report:
        store = await open_store(path, read_only=True)
        try:
            with ProgressBar(store.log.head, label) as bar:
                return await verify(store, bar)
        finally:
            await store.close()

    try:
        report = asyncio.run(chain())
    except StoreError as error:
        raise BackupError(f"{path} cannot be read as a registry log: {error}") from error
    if not report.ok:
        raise BackupError(f"{path} FAILED verification at seq {report.first_bad_seq}: "
                          f"{report.problem}")  # fmt: skip
    return report


def _backup(args: argparse.Namespace) -> int:
    target: Path = args.to
    if target.exists() and not target.is_dir() and not args.force:
        return _fail(f"{target} exists; pass --force to replace it", 2)
    try:
        source = None if is_postgres_url(args.db) else Path(args.db)
        sqlite_copy.check_backup_target(source, target)
        if is_postgres_url(args.db):
            with ProgressBar(None, "pg_dump", min_total=0):
                entries = postgres_dump.dump(args.db, target)
            sqlite_copy.publish(sqlite_copy.partial_path(target), target)
            print(f"backup written to {target}: pg_dump archive of {entries} entries, read back "
                  "in full with pg_restore")  # fmt: skip
            return 0
        with ProgressBar(None, "copying", min_total=0):
            copied = sqlite_copy.copy_live(Path(args.db), target)
        try:
            report = _verified(copied.path, "verifying the copy")
        except BackupError:
            copied.path.unlink(missing_ok=True)
            raise
        sqlite_copy.publish(copied.path, target)
    except BackupError as error:
        return _fail(str(error), 2)
    print(f"backup written to {target} ({copied.bytes:,} bytes): {report.events} events through "
          f"seq {report.head} and {report.snapshots} snapshots, verified")  # fmt: skip
    return 0


def _restore(args: argparse.Namespace) -> int:
    if is_postgres_url(args.db):
        return _fail("restore into PostgreSQL with pg_restore: see docs/operations.md", 2)
    source: Path = args.source
    if not source.exists():
        return _fail(f"{source} does not exist", 2)
    target = Path(args.db)
    if sqlite_copy.writes_over(target, source):
        # Copying a database into itself waits on its own lock for ever.
        return _fail(f"{source} is the database to restore into ({target}); restore from a "
                     "backup file", 2)  # fmt: skip
    try:
        report = _verified(source, "verifying the backup")
        sqlite_copy.restore(source, target, force=args.force)
    except BackupError as error:
        return _fail(str(error), 2)
    print(f"restored {source} into {target}: {report.events} events through seq {report.head}; "
          "start the server on it")  # fmt: skip
    return 0
