"""A directory of retention archives and the live log, checked and read as one history.

Retention names each archive by its seq range (persistence/archive.py), so the directory sorts
into the order of the log. `check_directory` proves the archives hold one unbroken chain: each
is whole on its own (archive.check), each starts at the seq after the one before and from its
chain value, and the last ends where the live log starts, with the chain value the snapshot at
the live log's cut holds. With `verify` on the live log, that is one chain from the first
archive (seq 1 unless older archives were removed) to the head.

An archive that starts at or after the live log's first event is a step whose cut never
committed (the crash came between the archive's rename and the cut): the live log holds those
events, so it is left out here (and retention removes it on its next run).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vm_registry.audit.archive import ArchiveCheck, check
from vm_registry.domain.errors import Gone
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.archive import archive_range, read_events
from vm_registry.persistence.log import GENESIS_HASH


@dataclass(slots=True)
class ChainCheck:
    checked: list[tuple[Path, ArchiveCheck]] = field(default_factory=list)
    uncommitted: list[Path] = field(default_factory=list)  # left out: the live log holds them
    problem: str | None = None

    @property
    def events(self) -> int:
        return sum((found.last or 0) - (found.first or 0) + 1 for _, found in self.checked)


def archives_in(directory: Path, live_first: int) -> tuple[list[Path], list[Path]]:
    """The archives before the live log, in seq order; and those it still holds."""
    found = sorted(
        (seqs, path) for path in directory.iterdir() if (seqs := archive_range(path)) is not None
    )
    before = [path for (first, _), path in found if first < live_first]
    after = [path for (first, _), path in found if first >= live_first]
    return before, after


def check_directory(directory: Path, live_first: int, cut_chain: bytes | None) -> ChainCheck:
    """`cut_chain`: the live log's chain value at `live_first - 1` (its snapshot there)."""
    paths, uncommitted = archives_in(directory, live_first)
    result = ChainCheck(uncommitted=uncommitted)
    previous: tuple[Path, ArchiveCheck] | None = None
    for path in paths:
        found = check(path)
        if found.problem is not None:
            return _fail(result, f"archive {path} FAILED: {found.problem}")
        if (found.first, found.last) != archive_range(path):
            return _fail(result, f"archive {path} holds seqs {found.first}..{found.last}, "
                         "not the range its name gives")  # fmt: skip
        assert found.first is not None and found.last is not None
        if previous is None:
            if found.first == 1 and found.start_hash != GENESIS_HASH:
                return _fail(result, f"archive {path} starts at seq 1 but not from genesis")
        else:
            before, seen = previous
            assert seen.last is not None
            if found.first <= seen.last:
                return _fail(result, f"archives {before.name} and {path.name} overlap at "
                             f"seqs {found.first}..{seen.last}")  # fmt: skip
            if found.first > seen.last + 1:
                return _fail(result, f"seqs {seen.last + 1}..{found.first - 1} are missing: "
                             f"no archive holds them (between {before.name} and "
                             f"{path.name})")  # fmt: skip
            if found.start_hash != seen.end_hash:
                return _fail(result, f"archive {path.name} does not continue the hash chain "
                             f"of {before.name} at seq {seen.last}")  # fmt: skip
        result.checked.append((path, found))
        previous = (path, found)
    if previous is None:
        return result
    path, last = previous
    assert last.last is not None
    if last.last < live_first - 1:
        return _fail(result, f"seqs {last.last + 1}..{live_first - 1} are missing: neither an "
                     f"archive nor the live log holds them (after {path.name})")  # fmt: skip
    if last.last > live_first - 1:
        return _fail(result, f"archive {path.name} overlaps the live log, which starts at "
                     f"seq {live_first}")  # fmt: skip
    if cut_chain != last.end_hash:
        return _fail(result, f"archive {path.name} does not match the live log's hash chain "
                     f"at seq {last.last}")  # fmt: skip
    return result


def _fail(result: ChainCheck, problem: str) -> ChainCheck:
    result.problem = problem
    return result


def archived_events(paths: list[Path]) -> Iterator[Event]:
    for path in paths:
        for event, _ in read_events(path):
            yield event


def _require_start(paths: list[Path]) -> None:
    if not paths:
        raise Gone("that point is before the live log and no archive holds it")
    seqs = archive_range(paths[0])
    if seqs is None or seqs[0] != 1:
        first = seqs[0] if seqs else "?"
        raise Gone(f"the archives start at seq {first}: the state before it cannot be rebuilt")


def archived_point(paths: list[Path], as_of: int | None, until: int | None) -> int:
    """The last archived seq at or before the point (a seq, or a time in epoch ms)."""
    _require_start(paths)
    found = 0
    for event in archived_events(paths):
        if (as_of is not None and event.at > as_of) or (until is not None and event.seq > until):
            break
        found = event.seq
    if found == 0:
        raise Gone("that point is before the first archived event")
    return found


def archived_state(paths: list[Path], upto: int) -> State:
    _require_start(paths)
    state = State()
    for event in archived_events(paths):
        if event.seq > upto:
            break
        apply(state, event)
    state.revision = upto
    return state


def archived_history(paths: list[Path], vm_id: str, upto: int) -> list[Event]:
    return [e for e in archived_events(paths) if e.vm_id == vm_id and e.seq <= upto]
