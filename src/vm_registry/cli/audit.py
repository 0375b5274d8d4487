"""`vm-registry verify | replay | compact`: offline audit of a log file.

They open the database themselves (read-only for verify and replay), so they work on a copy,
and on the live file while the server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from vm_registry.audit import archive
from vm_registry.audit.archive_chain import (
    archived_history,
    archived_point,
    archived_state,
    archives_in,
    check_directory,
)
from vm_registry.audit.compact import compact
from vm_registry.audit.replay import point_for, state_at, vm_history
from vm_registry.audit.verify import ExpectedHead, verify
from vm_registry.cli.progress import ProgressBar
from vm_registry.domain.errors import Gone, RegistryError
from vm_registry.domain.timestamps import parse_iso, to_iso
from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.log import GENESIS_HASH
from vm_registry.persistence.store import Store, open_store
from vm_registry.persistence.targets import describe, is_postgres_url
from vm_registry.wire import render

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        required=True,
        metavar="FILE|URL",
        help="the registry's log: a SQLite file or a postgresql:// URL",
    )


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "verify",
        help="check a log's hash chain, seqs, events and snapshots",
        description="Check a log, offline (also while the server runs): seqs without gaps, every "
        "event decodes, the hash chain, every snapshot against the refold. Exits 1 at the first "
        "problem, naming its seq (docs/audit.md).",
    )
    _db(check)
    check.add_argument("--archive", type=Path, action="append", default=[],
                       help="also check a compaction archive against the chain")  # fmt: skip
    check.add_argument("--archive-dir", type=Path, metavar="DIR",
                       help="also check retention's archives in DIR and the live log as one "
                       "chain (serve --archive-dir)")  # fmt: skip
    check.add_argument("--expect-head", metavar="SEQ:HASH", type=_expected_head,
                       help="a head recorded earlier (as verify prints it): the log must still "
                       "reach it, with that hash, or it was truncated or rewritten")  # fmt: skip
    check.set_defaults(func=lambda args: asyncio.run(_verify(args)))

    show = subparsers.add_parser(
        "replay",
        help="print the registry as of any point in its log",
        description="Print the registry as it was after a seq or at a time (default: the head), "
        "or one VM's history, from the log alone (docs/audit.md).",
    )
    _db(show)
    point = show.add_mutually_exclusive_group()
    point.add_argument("--until", type=int, metavar="SEQ", help="the state after this seq")
    point.add_argument("--as-of", metavar="TIME", help="the state at this ISO 8601 time")
    show.add_argument("--vm", metavar="ID", help="print this VM's history instead")
    show.add_argument("--archive-dir", type=Path, metavar="DIR",
                      help="retention's archives (serve --archive-dir): answer for points only "
                      "they still hold")  # fmt: skip
    show.add_argument("--format", choices=("table", "json"), default=None,
                      help="default: table on a terminal, json when piped")  # fmt: skip
    show.set_defaults(func=lambda args: asyncio.run(_replay(args)))

    shed = subparsers.add_parser(
        "compact",
        help="drop history before a cut, keeping it verifiable",
        description="Drop the events before a cut, after a snapshot at the cut; with --archive, "
        "write them to a file first, which verify --archive checks against the chain "
        "(docs/audit.md).",
    )
    _db(shed)
    cut = shed.add_mutually_exclusive_group(required=True)
    cut.add_argument("--before", type=int, metavar="SEQ", help="drop events with seq < SEQ")
    cut.add_argument("--older-than", metavar="AGE", help="drop events older than e.g. 30d, 12h")
    shed.add_argument("--archive", type=Path, metavar="FILE.jsonl.gz",
                      help="export the dropped events here first")  # fmt: skip
    shed.set_defaults(func=lambda args: asyncio.run(_compact(args)))


def _fail(message: str, code: int = 1) -> int:
    print(f"vm-registry: {message}", file=sys.stderr)
    return code


async def _open(target: Path | str, read_only: bool) -> Store:
    if not is_postgres_url(target) and not Path(target).exists():
        raise StoreError(f"{target} does not exist")
    return await open_store(target, read_only=read_only)


class _Refused(Exception):
    """Why a command gives up before it has an answer (exit status 2)."""


@contextlib.asynccontextmanager
async def _opened(args: argparse.Namespace, *, read_only: bool, doing: str) -> AsyncIterator[Store]:
    """The store at `--db` for the block, closed after it; a store or registry error leaves as
    `_Refused`, saying what was being done to which database."""
    try:
        store = await _open(args.db, read_only=read_only)
    except StoreError as error:
        raise _Refused(str(error)) from error
    try:
        yield store
    except RegistryError as error:
        raise _Refused(error.message) from error
    except StoreError as error:
        raise _Refused(f"cannot {doing} {describe(args.db)}: {error}") from error
    finally:
        await store.close()


def _expected_head(text: str) -> ExpectedHead:
    try:
        return ExpectedHead.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


async def _verify(args: argparse.Namespace) -> int:
    try:
        async with _opened(args, read_only=True, doing="read") as store:
            bar = ProgressBar(store.log.head, "verifying")
            report = await verify(store, bar, args.expect_head)
            bar.close()
            live_first = await store.log.refresh_first_seq()
            snapshots = {info.seq: info for info in await store.snapshots.infos()}
    except _Refused as refused:
        return _fail(str(refused), 2)
    if not report.ok:
        return _fail(f"FAILED at seq {report.first_bad_seq}: {report.problem}")
    checked: dict[str, archive.ArchiveCheck] = {}
    for path in args.archive:
        found = archive.check(path)
        if found.problem is not None:
            return _fail(f"archive {path} FAILED: {found.problem}")
        checked[str(path)] = found
    problem = archive.vouch(checked, {seq: info.chain for seq, info in snapshots.items()})
    if problem is not None:
        return _fail(f"FAILED: {problem}")
    for name, found in checked.items():
        print(f"archive {name}: events {found.first}..{found.last} verified against the chain")
    if args.archive_dir is not None:
        cut = snapshots.get(live_first - 1)
        cut_chain = GENESIS_HASH if live_first == 1 else cut.chain if cut else None
        problem = _verify_directory(args.archive_dir, live_first, cut_chain)
        if problem is not None:
            return _fail(f"FAILED: {problem}")
    print(f"ok: {report.events} events and {report.snapshots} snapshots verified "
          f"through seq {report.head}")  # fmt: skip
    # Worth recording elsewhere: `--expect-head` later proves the log was not cut short.
    print(f"head: {report.head}:{report.head_hash.hex()}")
    return 0


def _verify_directory(directory: Path, live_first: int, cut_chain: bytes | None) -> str | None:
    if not directory.is_dir():
        return f"{directory} is not a directory"
    chain = check_directory(directory, live_first, cut_chain)
    if chain.problem is not None:
        return chain.problem
    for path in chain.uncommitted:
        print(f"archive {path}: left out, its cut never committed (the live log holds it)")
    if chain.checked:
        start, end = chain.checked[0][1].first, chain.checked[-1][1].last
        print(f"archives in {directory}: {len(chain.checked)} files, events {start}..{end} "
              f"verified, chained to the live log at seq {live_first}")  # fmt: skip
        if start != 1:
            print(f"the chain starts at seq {start}: older archives are not in {directory}")
    else:
        print(f"archives in {directory}: none before the live log")
    return None


async def _replay(args: argparse.Namespace) -> int:
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    try:
        async with _opened(args, read_only=True, doing="read") as store:
            as_of = parse_iso(args.as_of) if args.as_of is not None else None
            archived: list[Path] = []
            try:
                seq = await point_for(store.log, args.until, as_of)
            except Gone:
                if args.archive_dir is None:
                    raise
                archived, _ = archives_in(args.archive_dir, store.log.first_seq)
                seq = archived_point(archived, as_of, args.until)
            if args.vm is not None:
                first = store.log.first_seq
                before = archives_in(args.archive_dir, first)[0] if args.archive_dir else []
                events = archived_history(before, args.vm, seq)
                if seq >= first or not events:
                    events += await vm_history(store.log, args.vm, seq)
                _print_history([render.event(e) for e in events], fmt)
                return 0
            if archived:
                state = archived_state(archived, seq)
            else:
                bar = ProgressBar(seq, "replaying")
                state = await state_at(store, seq, bar)
                bar.close()
    except ValueError:
        return _fail(f"--as-of {args.as_of!r} is not an ISO 8601 time", 2)
    except _Refused as refused:
        return _fail(str(refused), 2)
    vms = [render.entry(e, e.stale) for e in reversed(state.entries.values())]
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps({"revision": seq, "vms": vms}) + b"\n")
    else:
        _print_entries(vms, seq)
    return 0


def _print_entries(vms: list[dict[str, Any]], seq: int) -> None:
    from vm_registry.cli.render import Tabular, show

    rows = [[v["id"], v["name"], v["role"], v["status"] + (" (stale)" if v["stale"] else ""),
             v["address"], v["lastSeen"]] for v in vms]  # fmt: skip
    headers = ("ID", "NAME", "ROLE", "STATUS", "ADDRESS", "LAST SEEN")
    show(Tabular(headers, rows, styles=["red" if v["stale"] else None for v in vms]))
    print(f"{len(vms)} VMs as of seq {seq}")


def _print_history(events: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps({"events": events, "count": len(events)}) + b"\n")
        return
    from vm_registry.cli.render import Tabular, show

    rows = [[str(e["seq"]), e["at"], e["type"], orjson.dumps(e["actor"]).decode(),
             orjson.dumps(e["data"]).decode()[:60]] for e in events]  # fmt: skip
    show(Tabular(("SEQ", "AT", "TYPE", "ACTOR", "DATA"), rows))


def _age_cut_ms(age: str) -> int:
    match = DURATION.match(age.strip())
    if match is None:
        raise ValueError(f"--older-than {age!r} must look like 30d, 12h, 45m or 90s")
    seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    return time.time_ns() // 1_000_000 - int(seconds * 1000)


async def _compact(args: argparse.Namespace) -> int:
    try:
        cut_time = _age_cut_ms(args.older_than) if args.older_than else None
    except ValueError as error:
        return _fail(str(error), 2)
    try:
        async with _opened(args, read_only=False, doing="compact") as store:
            if cut_time is not None:
                cut = await store.log.seq_at_time(cut_time)
                print(f"events before {to_iso(cut_time)} end at seq {cut}")
            else:
                cut = args.before - 1
            with ProgressBar(None, f"compacting through seq {cut}", min_total=0):
                result = await compact(store, cut, args.archive)
    except _Refused as refused:
        return _fail(str(refused), 2)
    if result.dropped == 0:  # nothing before the cut, so no archive either (docs/audit.md)
        unwritten = f"; {args.archive} not written" if args.archive else ""
        print(f"nothing to compact: the log holds no events before seq {cut + 1}{unwritten}")
        return 0
    archived = f", {result.archived} archived to {args.archive}" if args.archive else ""
    print(f"compacted through seq {result.cut}: {result.dropped} events dropped{archived}")
    return 0
