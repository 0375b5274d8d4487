"""`vm-registry import --agent-services FILE [--db FILE|URL]`: move a fleet from agent-services'
registry file into an empty log (`audit/importing.py`), and say what could not be taken.

Exit status: 0 when every VM was imported; 1 when some were left out (the rest are imported,
and each one left out is listed with its reason); 2 when nothing was imported (an unreadable
file, a log that is not empty, a store that cannot be opened).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from vm_registry.audit.importing import IMPORT_ACTOR, import_fleet, refuse_unless_empty
from vm_registry.domain.errors import RegistryError
from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.store import open_store
from vm_registry.persistence.targets import describe, is_postgres_url
from vm_registry.settings import Settings
from vm_registry.wire import agent_services


def register(subparsers: Any) -> None:
    move = subparsers.add_parser(
        "import",
        help="move a fleet from agent-services' registry file into an empty log",
        description="Read agent-services' data/registry.json into an empty log: each VM keeps "
        "its id, fields, registeredAt and lastSeen, recorded as imported. Entries this "
        "registry cannot take are listed with the reason; the rest are imported.",
    )
    move.add_argument(
        "--agent-services",
        dest="source",
        type=Path,
        required=True,
        metavar="FILE",
        help="agent-services' registry file (its data/registry.json)",
    )
    default = Settings().db  # where `serve` looks when not told
    move.add_argument("--db", default=default, metavar="FILE|URL",
                      help="an empty log to import into: a SQLite file or a postgresql:// URL "
                      f"(default: {default}, as serve)")  # fmt: skip
    move.add_argument("--dry-run", action="store_true",
                      help="check the file and the log; say what would be imported")  # fmt: skip
    move.set_defaults(func=lambda args: asyncio.run(_import(args)))


def _fail(message: str, code: int = 2) -> int:
    print(f"vm-registry: {message}", file=sys.stderr, flush=True)
    return code


async def _import(args: argparse.Namespace) -> int:
    try:
        with args.source.open("rb") as source:
            # One byte past the limit is enough to refuse the file, and bounds what is read
            # from anything (a FIFO, /dev/zero) named as the file.
            raw = source.read(agent_services.MAX_FILE_BYTES + 1)
    except OSError as error:
        return _fail(f"cannot read {args.source}: {error.strerror or error}")
    now = time.time_ns() // 1_000_000
    try:
        reading = agent_services.read(raw, now)
    except RegistryError as error:
        return _fail(f"{args.source}: {error.message}")
    target = describe(args.db)
    if args.dry_run and not is_postgres_url(args.db) and not Path(args.db).exists():
        _print_reading(args.source, reading)  # no log there yet: empty, and left unmade
        print(f"would import {len(reading.taken)} VMs into {target} (dry run: nothing written)")
        return _outcome(reading)
    try:
        store = await open_store(args.db)
    except StoreError as error:
        return _fail(f"cannot open {target}: {error}")
    try:
        if args.dry_run:
            await refuse_unless_empty(store)
        else:
            result = await import_fleet(store, reading.taken)
    except RegistryError as error:
        return _fail(error.message)
    except StoreError as error:
        return _fail(f"import failed, nothing imported: {error}", 2)
    finally:
        await store.close()
    _print_reading(args.source, reading)
    if args.dry_run:
        print(f"would import {len(reading.taken)} VMs into {target} (dry run: nothing written)")
        return _outcome(reading)
    report = result.report
    actor = orjson.dumps(IMPORT_ACTOR).decode()
    print(f"imported {result.vms} VMs into {target}: {result.vms} registrations and "
          f"{result.heartbeats} heartbeats (for lastSeen), actor {actor}")  # fmt: skip
    if not report.ok:
        return _fail(f"the import does not verify: FAILED at seq {report.first_bad_seq}: "
                     f"{report.problem}", 2)  # fmt: skip
    print(f"verified {target}: {report.events} events through seq {report.head}")
    print(f"head: {report.head}:{report.head_hash.hex()}")
    return _outcome(reading)


def _print_reading(source: Path, reading: agent_services.Reading) -> None:
    print(f"read {reading.entries} VMs from {source}")
    for refused in reading.refused:
        print(f"  not imported: {refused.describe()}")


def _outcome(reading: agent_services.Reading) -> int:
    if not reading.refused:
        return 0
    return _fail(f"{len(reading.refused)} of {reading.entries} VMs were not imported "
                 "(listed above with the reason)", 1)  # fmt: skip
