"""Archive files: dropped events as gzip-compressed JSON lines, with their hashes.

The first line is a header recording the chain value just before the first event, so an
archive can be checked on its own and against the snapshot its compaction left at its end.
`compact --archive FILE` and retention (`serve --archive-dir DIR`) write the same format;
retention names each file by its seq range (`archive_name`), so a directory sorts by seq.

A file is written as `<name>.partial`, flushed to disk, renamed into place and the directory
synced: a crash at any moment leaves either no file of that name or the whole file.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson

from vm_registry.domain.events import Event

FORMAT: Final = 1
PARTIAL: Final = ".partial"
# Retention's archives: the first and last seq they hold, zero-padded so names sort by seq.
NAME: Final = re.compile(r"^events-(\d{12})-(\d{12})\.jsonl\.gz$")


def archive_name(first: int, last: int) -> str:
    return f"events-{first:012d}-{last:012d}.jsonl.gz"


def archive_range(path: Path) -> tuple[int, int] | None:
    """The seq range a retention archive's name gives; None for any other file."""
    match = NAME.match(path.name)
    return (int(match.group(1)), int(match.group(2))) if match else None


class ArchiveWriter:
    """Streams events into `<path>.partial`, renamed to `path` only when complete, so a crash
    mid-export never leaves a truncated archive that looks whole."""

    def __init__(self, path: Path, prev_hash: bytes) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + PARTIAL)
        # Level 6, not gzip's 9: a third of the CPU for a few per cent more bytes.
        self._out = gzip.open(self._tmp, "wb", compresslevel=6)  # noqa: SIM115 -- finish/abandon
        self._out.write(orjson.dumps({"archive": FORMAT, "prevHash": prev_hash.hex()}) + b"\n")
        self.count = 0

    def write(self, rows: Iterable[tuple[Event, bytes]]) -> None:
        for event, digest in rows:
            line: dict[str, Any] = {
                "seq": event.seq,
                "type": event.type,
                "vmId": event.vm_id,
                "at": event.at,
                "actor": event.actor,
                "data": event.data,
                "hash": digest.hex(),
            }
            self._out.write(orjson.dumps(line) + b"\n")
            self.count += 1

    def finish(self) -> int:
        self._out.close()
        with open(self._tmp, "rb") as done:
            os.fsync(done.fileno())
        self._tmp.replace(self.path)
        sync_directory(self.path.parent)
        return self.count

    def abandon(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)


def sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (the file's own fsync does not cover its name)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_events(path: Path) -> Iterable[tuple[Event, str]]:
    """An archive's events with their stored hashes (hex), in file order; no checks."""
    with gzip.open(path, "rb") as source:
        source.readline()  # the header
        for raw in source:
            row = orjson.loads(raw)
            yield (
                Event(row["seq"], row["type"], row["vmId"], row["at"], row["actor"], row["data"]),
                row["hash"],
            )
