"""Compaction archives: the dropped events as gzip-compressed JSON lines, with their hashes.

The first line is a header recording the range and the chain value just before it, so the
archive can be checked on its own and against the snapshot the compaction left at its end.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vm_registry.domain.events import Event, canonical_bytes

FORMAT = 1


class ArchiveWriter:
    """Streams events into `<path>.partial`, renamed to `path` only when complete, so a crash
    mid-export never leaves a truncated archive that looks whole."""

    def __init__(self, path: Path, prev_hash: bytes) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".partial")
        self._out = gzip.open(self._tmp, "wb")  # noqa: SIM115 -- closed by finish/abandon
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
        self._tmp.replace(self.path)
        return self.count

    def abandon(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)


@dataclass(slots=True)
class ArchiveCheck:
    first: int | None
    last: int | None
    end_hash: bytes
    problem: str | None = None


def check(path: Path) -> ArchiveCheck:
    """Recompute the archive's chain. `end_hash` is the chain value after its last event."""
    with gzip.open(path, "rb") as source:
        header = orjson.loads(source.readline())
        chain = bytes.fromhex(header["prevHash"])
        first: int | None = None
        last: int | None = None
        for number, raw in enumerate(source, start=2):
            row = orjson.loads(raw)
            event = Event(
                row["seq"], row["type"], row["vmId"], row["at"], row["actor"], row["data"]
            )
            if last is not None and event.seq != last + 1:
                return ArchiveCheck(first, last, chain, f"line {number}: seq {last + 1} is missing")
            chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
            if chain.hex() != row["hash"]:
                return ArchiveCheck(
                    first, last, chain, f"event {event.seq} breaks the archive's hash chain"
                )
            first = event.seq if first is None else first
            last = event.seq
    return ArchiveCheck(first, last, chain)
