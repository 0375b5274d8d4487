"""The index of selector watchers by a key's value: an event wakes only the watchers whose
values the VM held at that key before or after it."""

from __future__ import annotations

import asyncio
import sys

from vm_registry.domain.model import JsonObject
from vm_registry.domain.selectors import parse
from vm_registry.feed.keyed import MAX_DROPPED_BYTES, Key, KeyIndex
from vm_registry.feed.tail import NO_ENTRY, SEQ, FeedItem, Metadata

TEAM = ("team",)


def updated(seq: int, before: Metadata, after: Metadata) -> FeedItem:
    return (seq, "vm.updated", f"vm-{seq}", "worker", b"", before, after)


def team(value: str) -> JsonObject:
    return {"team": value, "zone": "eu"}


async def woken_by(index: KeyIndex, item: FeedItem, values: frozenset[str]) -> bool:
    watcher = asyncio.ensure_future(index.wait(TEAM, values, item[SEQ] - 1, None))
    await asyncio.sleep(0)
    woken: list[Key] = []
    index.append(item, woken)
    index.wake(woken)
    await asyncio.sleep(0)
    done = watcher.done()
    index.wake((TEAM, value) for value in values)  # as on shutdown
    await watcher
    return done


async def test_a_watcher_of_one_value_is_not_woken_by_a_vm_that_never_held_it() -> None:
    index = KeyIndex()
    index.register(TEAM, (), 1)
    term = parse("team=a,zone=eu").index_term()
    assert term == (TEAM, frozenset({"a"}))
    assert not await woken_by(index, updated(1, team("b"), team("b")), term[1])
    assert not await woken_by(index, updated(2, NO_ENTRY, team("c")), term[1])
    assert not await woken_by(index, updated(3, {"other": "a"}, None), term[1])


async def test_a_vm_entering_or_leaving_the_set_wakes_the_watcher() -> None:
    index = KeyIndex()
    index.register(TEAM, (), 1)
    values = frozenset({"a"})
    assert await woken_by(index, updated(1, team("a"), team("b")), values)  # left the set
    assert await woken_by(index, updated(2, team("b"), team("a")), values)  # entered it
    assert await woken_by(index, updated(3, team("a"), NO_ENTRY), values)  # deregistered
    assert [item[SEQ] for item in index.after(TEAM, values, 0)] == [1, 2, 3]
    assert [item[SEQ] for item in index.after(TEAM, values, 1)] == [2, 3]


async def test_a_set_of_values_wakes_on_any_and_reads_each_item_once() -> None:
    index = KeyIndex()
    index.register(TEAM, (), 1)
    term = parse("team in (a, b)").index_term()
    assert term is not None
    assert await woken_by(index, updated(1, team("a"), team("b")), term[1])
    assert await woken_by(index, updated(2, team("c"), team("b")), term[1])
    assert [item[SEQ] for item in index.after(TEAM, term[1], 0)] == [1, 2]


def test_only_equality_terms_index_a_selector() -> None:
    for text in ("team!=a", "team notin (a)", "team", "!team"):
        assert parse(text).index_term() is None
    assert parse("!x,team==a").index_term() == (TEAM, frozenset({"a"}))


def test_a_path_registered_late_indexes_what_the_tail_holds_and_what_falls_off() -> None:
    held = [updated(5, team("a"), team("a")), updated(6, team("b"), team("b"))]
    index = KeyIndex()
    index.register(TEAM, held, 5)
    a = frozenset({"a"})
    assert not index.covers(TEAM, a, 3)  # before the tail: the log
    assert index.covers(TEAM, a, 4)
    assert [item[SEQ] for item in index.after(TEAM, a, 4)] == [5]
    index.drop(held[0])
    assert not index.covers(TEAM, a, 4) and index.covers(TEAM, a, 5)
    assert index.after(TEAM, a, 4) == []
    index.unregister(TEAM)
    index.register(TEAM, held[1:], 6)
    assert index.covers(TEAM, frozenset({"b"}), 5)


def test_the_notes_of_dropped_values_are_bounded_in_bytes_and_stay_cautious() -> None:
    """Issue #25's rule for tables clients grow: each dropped item leaves a note of its value,
    a client's metadata up to the entry limit long. 2,000 distinct 30 KB values would be 60 MB
    of notes; past the byte budget they are forgotten into the floor, so a cursor behind any
    of them still reads from the log and none in front of them is sent there."""
    index = KeyIndex()
    index.register(TEAM, (), 1)
    values = [f"{n:05d}" + "x" * 30_000 for n in range(2_000)]
    for seq, value in enumerate(values, start=1):
        item = updated(seq, team(value), team(value))
        index.append(item, [])
        index.drop(item)
    assert index._dropped_bytes <= MAX_DROPPED_BYTES
    assert sum(sys.getsizeof(text) for text in index._dropped[TEAM]) <= MAX_DROPPED_BYTES
    assert not index.covers(TEAM, [values[0]], 0)  # forgotten, yet still behind the floor
    assert not index.covers(TEAM, [values[-1]], len(values) - 1)  # remembered
    assert index.covers(TEAM, [values[0], values[-1]], len(values))
    index.unregister(TEAM)
    assert index._dropped_bytes == 0


async def test_forgetting_the_notes_keeps_those_of_the_values_a_watcher_waits_on() -> None:
    """A waiting watcher's cursor moves to the head only when it wakes. Forgetting the notes
    raised the floor past it, so on its next wake it replayed the log, though its value lost
    nothing: under a PATCH loop of distinct 30 KB values, thousands of events read at once,
    every bookmark period (tests/api/test_memory_tables.py)."""
    index = KeyIndex()
    index.register(TEAM, (), 1)
    for seq, value in ((1, "a"), (2, "b")):
        item = updated(seq, team(value), team(value))
        index.append(item, [])
        index.drop(item)
    waited = frozenset({"a", "z"})  # "a" lost seq 1, "z" nothing
    watcher = asyncio.ensure_future(index.wait(TEAM, waited, 2, None))
    await asyncio.sleep(0)
    values = [f"{n:05d}" + "x" * 30_000 for n in range(2_000)]
    for seq, value in enumerate(values, start=3):
        item = updated(seq, team(value), team(value))
        index.append(item, [])
        index.drop(item)
    assert index.covers(TEAM, waited, 1)
    assert not index.covers(TEAM, waited, 0)  # "a"'s own note
    assert not index.covers(TEAM, frozenset({"b"}), 2)  # not waited on: forgotten, cautious
    assert index._dropped_bytes <= MAX_DROPPED_BYTES
    index.wake((TEAM, value) for value in waited)
    await watcher
    index.unregister(TEAM)
    assert index._dropped_bytes == 0
