"""Checking archives (the format: persistence/archive.py), alone and against a log's chain."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from vm_registry.domain.events import Event, canonical_bytes
from vm_registry.persistence.archive import FORMAT, ArchiveWriter
from vm_registry.persistence.log import GENESIS_HASH

__all__ = ["ArchiveCheck", "ArchiveWriter", "check", "vouch"]


@dataclass(slots=True)
class ArchiveCheck:
    first: int | None
    last: int | None
    end_hash: bytes  # the chain value after the last event
    start_hash: bytes = GENESIS_HASH  # the chain value just before the first event
    problem: str | None = None


def check(path: Path) -> ArchiveCheck:
    """Recompute the archive's own chain. This proves it is internally consistent, not that
    it is the history of a given log: `vouch` does that."""
    try:
        return _check(path)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        return ArchiveCheck(None, None, GENESIS_HASH, problem=f"not a readable archive: {error}")


def _check(path: Path) -> ArchiveCheck:
    with gzip.open(path, "rb") as source:
        header = orjson.loads(source.readline())
        if not isinstance(header, dict) or header.get("archive") != FORMAT:
            return ArchiveCheck(None, None, GENESIS_HASH, problem="unknown archive header")
        start = chain = bytes.fromhex(header["prevHash"])
        first: int | None = None
        last: int | None = None
        for number, raw in enumerate(source, start=2):
            row = orjson.loads(raw)
            event = Event(
                row["seq"], row["type"], row["vmId"], row["at"], row["actor"], row["data"]
            )
            if last is not None and event.seq != last + 1:
                return ArchiveCheck(
                    first, last, chain, start, f"line {number}: seq {last + 1} is missing"
                )
            chain = hashlib.sha256(chain + canonical_bytes(event)).digest()
            if chain.hex() != row["hash"]:
                return ArchiveCheck(
                    first, last, chain, start, f"event {event.seq} breaks the archive's hash chain"
                )
            first = event.seq if first is None else first
            last = event.seq
    if first is None:
        return ArchiveCheck(None, None, chain, start, "the archive holds no events")
    return ArchiveCheck(first, last, chain, start)


def vouch(archives: dict[str, ArchiveCheck], chain_at: dict[int, bytes]) -> str | None:
    """Tie internally consistent archives to a log's chain; the first problem, if any.

    `chain_at` maps seqs to the log's chain values known there (its snapshots). An archive is
    vouched for when the chain value after its last event equals one the log (or a later,
    already vouched-for archive) holds at that seq: sha256 cannot be steered to a chosen value,
    so this proves every event in it, and its starting value, in turn vouches for an earlier
    archive. After a later compaction the log no longer holds the chain at an older cut, so
    an older archive can only be vouched for together with the archives after it.
    """
    known = dict(chain_at)
    newest_first = sorted(archives.items(), key=lambda item: item[1].last or 0, reverse=True)
    for name, found in newest_first:
        assert found.first is not None and found.last is not None
        anchor = known.get(found.last)
        if anchor is None:
            return (
                f"archive {name} ends at seq {found.last}, where neither the log nor a later "
                "archive holds the hash chain; give the archives of every later compaction too"
            )
        if anchor != found.end_hash:
            return f"archive {name} does not match the log's hash chain at seq {found.last}"
        if found.first == 1 and found.start_hash != GENESIS_HASH:
            return f"archive {name} starts at seq 1 but not from the genesis hash"
        before = known.get(found.first - 1)
        if before is not None and before != found.start_hash:
            return f"archive {name} does not continue the chain at seq {found.first - 1}"
        known[found.first - 1] = found.start_hash
    return None
