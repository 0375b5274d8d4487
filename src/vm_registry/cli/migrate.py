"""`vm-registry migrate --from FILE|URL --to FILE|URL`: move a log between SQLite and
PostgreSQL, in either direction (see `audit/migrate.py`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from vm_registry.audit.migrate import ensure_empty, migrate
from vm_registry.cli.progress import ProgressBar
from vm_registry.domain.errors import RegistryError
from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.store import Store, open_store
from vm_registry.persistence.targets import describe, is_postgres_url


def register(subparsers: Any) -> None:
    move = subparsers.add_parser(
        "migrate",
        help="copy a log between SQLite and PostgreSQL (seqs, hashes, snapshots), then verify it",
        description="Copy a log between SQLite and PostgreSQL, either way, into an empty "
        "database: every event with its seq and hash, and the snapshots; then verify the copy "
        "(docs/scale-out.md).",
    )
    move.add_argument("--from", dest="source", required=True,
                      metavar="FILE|URL", help="the log to copy (read only)")  # fmt: skip
    move.add_argument("--to", dest="target", required=True,
                      metavar="FILE|URL", help="an empty database to copy it into")  # fmt: skip
    move.set_defaults(func=lambda args: asyncio.run(_migrate(args)))


def _fail(message: str, code: int = 2) -> int:
    print(f"vm-registry: {message}", file=sys.stderr, flush=True)
    return code


async def _migrate(args: argparse.Namespace) -> int:
    source_name, target_name = describe(args.source), describe(args.target)
    if source_name == target_name:
        return _fail("--from and --to name the same log")
    if not is_postgres_url(args.source) and not Path(args.source).exists():
        return _fail(f"{source_name} does not exist")
    try:
        source = await open_store(args.source, read_only=True)
    except StoreError as error:
        return _fail(f"cannot open {source_name}: {error}")
    try:
        return await _copy(source, args.target, target_name)
    finally:
        await source.close()


async def _copy(source: Store, target_at: Path | str, target_name: str) -> int:
    first, head = await source.log.refresh_first_seq(), source.log.head
    total = max(head - first + 1, 0)
    try:
        target = await open_store(target_at)
    except StoreError as error:
        return _fail(f"cannot open {target_name}: {error}")
    try:
        await ensure_empty(target)  # before saying what it would copy
        print(f"copying seqs {first}..{head} ({total} events) from {source.name} to "
              f"{target_name}", flush=True)  # fmt: skip
        with ProgressBar(total, "copying") as bar:
            result = await migrate(source, target, bar)
    except RegistryError as error:
        return _fail(error.message)
    except StoreError as error:
        return _fail(f"migration failed: {error}", 1)
    finally:
        await target.close()
    print(f"copied {result.events} events and {result.snapshots} snapshots", flush=True)
    report = result.report
    if not report.ok:
        return _fail(f"the copy does not verify: FAILED at seq {report.first_bad_seq}: "
                     f"{report.problem}", 1)  # fmt: skip
    print(f"verified {target_name}: {report.events} events and {report.snapshots} snapshots "
          f"through seq {report.head}")  # fmt: skip
    print(f"head: {report.head}:{report.head_hash.hex()}")
    return 0
