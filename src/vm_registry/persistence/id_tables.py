"""The log's id tables `vms(id, name)` and `actors(id, body)` (each VM id and actor interned
once in the log), cached in memory, and rows back into events; the same for every backend,
since they share the stored layout. Not to be confused with `domain/interning.py`, which shares
equal values among the entries in memory.

Each VM id and each distinct actor is stored once and referenced by a small integer from every
event row. Ids are handed out in order (`last + 1`) under the log's write lock, so a cache
refreshes incrementally: anything new has a larger id than what it holds.

The caches are bounded in bytes (issue #25: 36,000 heartbeats with distinct User-Agents grew a
server by 170 MB, and every VM id ever registered stayed, deregistered or not). The log is the
truth, so a cache may forget: each keeps two generations (`_Generations`), and what it no
longer holds is read back from the tables. While a cache has never let anything go it is
`complete`: a name it lacks is new, and nothing is looked up. Once it has, the write path looks
the batch's unknown names and bodies up under the write lock before taking new ids (one query
each per batch), and reads look up the ids their rows name. What is looked up for one call is
kept in a `Found` for that call, so nothing it needs can be forgotten halfway through it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import orjson

from vm_registry.domain.events import Event
from vm_registry.persistence.codes import (
    CODE_TYPES,
    TYPE_CODES,
    decode_data,
    encode_actor,
    encode_data,
)
from vm_registry.persistence.errors import StoreCorrupt

# seq, type code, vm, at, actor, data, hash
Row = tuple[int, int, int, int, int, bytes | None, bytes]
# What stores a batch: its new rows of `vms` and `actors`, then its event rows.
Rows = tuple[list[tuple[int, str]], list[tuple[int, bytes]], list[Row]]

VMS_AFTER = "SELECT id, name FROM vms WHERE id > {} ORDER BY id"
ACTORS_AFTER = "SELECT id, body FROM actors WHERE id > {} ORDER BY id"

# The budgets: a 100,000-VM fleet's ids fit (about 150 bytes each), and ten thousand distinct
# actors (an actor is the client's address, User-Agent, token name and scope).
VM_CACHE_BYTES: Final = 16 * 1024 * 1024
ACTOR_CACHE_BYTES: Final = 8 * 1024 * 1024
# What an entry costs besides its value (two dict slots and the int), measured with
# tracemalloc; an actor is kept as its bytes and as the decoded dict, about twice its bytes.
VM_OVERHEAD: Final = 96
ACTOR_OVERHEAD: Final = 384
# Ids looked up in one query: well under SQLite's and PostgreSQL's limits on parameters.
LOOKUP_CHUNK: Final = 5_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# Runs SQL with `?` placeholders on the backend's connection of the moment.
Fetch = Callable[[str, Sequence[Any]], Awaitable[Iterable[Any]]]


class _Generations(Generic[K, V]):
    """Keys (VM names, actor bodies) and their intern ids both ways, plus what each id decodes
    to, bounded in bytes: new entries go into the young generation; when it holds half the
    budget it becomes the old one and the old one is let go. A key found in the old one moves
    up. Nothing is let go except in `add`, so lookups never lose what an earlier lookup of the
    same call found."""

    __slots__ = (
        "_cost", "_old", "_old_ids", "bytes", "complete", "ids", "last", "max_bytes", "values",
    )  # fmt: skip

    def __init__(self, max_bytes: int, cost: Callable[[K], int]) -> None:
        self.max_bytes = max_bytes
        self._cost = cost
        self.ids: dict[K, int] = {}
        self.values: dict[int, V] = {}
        self._old_ids: dict[K, int] = {}
        self._old: dict[int, V] = {}
        self.bytes = 0  # charged for the young generation
        self.last = 0  # the largest id the table has named
        self.complete = True  # holds every id up to `last`

    def id_of(self, key: K) -> int | None:
        found = self.ids.get(key)
        if found is None:
            found = self._old_ids.pop(key, None)
            if found is not None:  # moves up, without letting anything go
                self.ids[key] = found
                self.values[found] = self._old.pop(found)
                self.bytes += self._cost(key)
        return found

    def value(self, key: int) -> V:
        """What id `key` decodes to. KeyError: not held."""
        held = self.values.get(key)
        return self._old[key] if held is None else held

    def holds(self, key: int) -> bool:
        return key in self.values or key in self._old

    def add(self, key: int, name: K, value: V) -> None:
        self.last = max(self.last, key)
        if name in self.ids or name in self._old_ids:
            return
        cost = self._cost(name)
        if self.bytes + cost > self.max_bytes // 2:
            if self._old:
                self.complete = False
            self._old_ids, self._old = self.ids, self.values
            self.ids, self.values, self.bytes = {}, {}, 0
        self.ids[name] = key
        self.values[key] = value
        self.bytes += cost

    def forget_after(self, last: int) -> None:
        for ids, values in ((self.ids, self.values), (self._old_ids, self._old)):
            for name in [name for name, key in ids.items() if key > last]:
                del values[ids.pop(name)]
        self.bytes = sum(self._cost(name) for name in self.ids)
        self.last = last

    def single(self) -> dict[int, V] | None:
        """Every entry in one dict, when the table has never been split."""
        return self.values if self.complete and not self._old else None

    @property
    def charged(self) -> int:
        return self.bytes + sum(self._cost(name) for name in self._old_ids)

    def __len__(self) -> int:
        return len(self.values) + len(self._old)


def _vm_cost(name: str) -> int:
    return VM_OVERHEAD + sys.getsizeof(name)


def _actor_cost(body: bytes) -> int:
    return ACTOR_OVERHEAD + 2 * len(body)


@dataclass(slots=True)
class Found:
    """Intern rows read back for one call: by id, and by name or body."""

    vm_names: dict[int, str] = field(default_factory=dict)
    actor_bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    vm_ids: dict[str, int] = field(default_factory=dict)
    actor_ids: dict[bytes, int] = field(default_factory=dict)

    def learn(self, vms: Iterable[Any], actors: Iterable[Any]) -> None:
        for key, stored in vms:
            self.vm_names[key] = name = _text(stored)
            self.vm_ids[name] = key
        for key, body in actors:
            self.actor_bodies[key] = orjson.loads(body)
            self.actor_ids[bytes(body)] = key


def _text(stored: Any) -> str:
    # A backend may store ids as UTF-8 bytes (PostgreSQL's TEXT refuses NUL).
    return stored.decode() if isinstance(stored, bytes) else str(stored)


class IdTables:
    def __init__(
        self,
        *,
        names_as_bytes: bool = False,
        vm_bytes: int | None = None,
        actor_bytes: int | None = None,
    ) -> None:
        vm_bytes = VM_CACHE_BYTES if vm_bytes is None else vm_bytes
        actor_bytes = ACTOR_CACHE_BYTES if actor_bytes is None else actor_bytes
        self.vms: _Generations[str, str] = _Generations(vm_bytes, _vm_cost)
        self.actors: _Generations[bytes, dict[str, Any]] = _Generations(actor_bytes, _actor_cost)
        self._names_as_bytes = names_as_bytes  # how the backend's `vms.name` column takes one

    @property
    def last_vm(self) -> int:
        return self.vms.last

    @property
    def last_actor(self) -> int:
        return self.actors.last

    @property
    def complete(self) -> bool:
        return self.vms.complete and self.actors.complete

    def learn(self, vms: Iterable[Any], actors: Iterable[Any]) -> None:
        """Add rows read with `VMS_AFTER` and `ACTORS_AFTER` (from `last_vm`, `last_actor`)."""
        for key, stored in vms:
            name = _text(stored)
            self.vms.add(key, name, name)
        for key, body in actors:
            raw = bytes(body)
            self.actors.add(key, raw, orjson.loads(raw))

    # -- reading back what the caches let go -------------------------------------------------

    async def refresh(
        self,
        fetch: Fetch,
        rows: Sequence[Any] = (),
        events: Sequence[Event] = (),
        names: Iterable[str] = (),
        newer: bool = True,
    ) -> Found:
        """Learn the ids others added after ours (unless `newer` is false: the write path has,
        under the lock), then, if the caches have let anything go, look up what `rows` (by
        id), `events` and `names` (by name and body) name that they do not hold."""
        if newer:
            self.learn(
                await fetch(VMS_AFTER.format("?"), (self.last_vm,)),
                await fetch(ACTORS_AFTER.format("?"), (self.last_actor,)),
            )
        found = Found()
        if self.complete:
            return found
        vms, actors = self.vms, self.actors
        vm_ids = {row[2] for row in rows if not vms.holds(row[2])}
        actor_ids = {row[4] for row in rows if not actors.holds(row[4])}
        wanted = {event.vm_id for event in events} | set(names)
        unnamed = [name for name in wanted if vms.id_of(name) is None]
        bodies = {encode_actor(event.actor) for event in events}
        unknown = [body for body in bodies if actors.id_of(body) is None]
        lookups = (
            ("SELECT id, name FROM vms WHERE id IN ({})", list(vm_ids), True),
            ("SELECT id, body FROM actors WHERE id IN ({})", list(actor_ids), False),
            (
                "SELECT id, name FROM vms WHERE name IN ({})",
                [self._name_param(n) for n in unnamed],
                True,
            ),
            ("SELECT id, body FROM actors WHERE body IN ({})", unknown, False),
        )
        for sql, keys, of_vms in lookups:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                part = keys[start : start + LOOKUP_CHUNK]
                rows_found = await fetch(sql.format(", ".join("?" * len(part))), part)
                if of_vms:
                    found.learn(rows_found, ())
                else:
                    found.learn((), rows_found)
        return found

    def _name_param(self, name: str) -> str | bytes:
        return name.encode() if self._names_as_bytes else name

    def vm_id(self, name: str, found: Found | None = None) -> int | None:
        key = self.vms.id_of(name)
        if key is None and found is not None:
            key = found.vm_ids.get(name)
        return key

    # -- writing -----------------------------------------------------------------------------

    def rows_for(
        self, events: Sequence[Event], hashes: Sequence[bytes], found: Found | None = None
    ) -> Rows:
        """The rows that store `events`: new intern rows first, then the event rows. New ids
        are taken at once; `forget_after` gives them back if the transaction fails. `found`
        holds what `refresh(events=...)` looked up: with a cache that has let ids go, a name it
        lacks may still be in the table."""
        vms, actors = self.vms, self.actors
        found = found or Found()
        batch_vms: dict[str, int] = {}
        batch_actors: dict[bytes, int] = {}
        new_vms: list[tuple[int, str]] = []
        new_actors: list[tuple[int, bytes]] = []
        rows: list[Row] = []
        last_vm, last_actor = vms.last, actors.last
        vm_ids, actor_ids = vms.ids, actors.ids  # not let go before the loop ends
        for event, chain in zip(events, hashes, strict=True):
            name = event.vm_id
            vm = vm_ids.get(name)  # the young generation: nearly every hit, and the hot path
            if vm is None:
                vm = vms.id_of(name)
            if vm is None:
                vm = batch_vms.get(name) or found.vm_ids.get(name)
                if vm is None:
                    vm = last_vm = last_vm + 1
                    new_vms.append((vm, name))
                batch_vms[name] = vm
            body = encode_actor(event.actor)
            actor = actor_ids.get(body)
            if actor is None:
                actor = actors.id_of(body)
            if actor is None:
                actor = batch_actors.get(body) or found.actor_ids.get(body)
                if actor is None:
                    actor = last_actor = last_actor + 1
                    body = bytes(memoryview(body))  # orjson's result keeps 4 KiB behind it
                    new_actors.append((actor, body))
                batch_actors[body] = actor
            code = TYPE_CODES[event.type]
            rows.append((event.seq, code, vm, event.at, actor, encode_data(event.data), chain))
        # Only now, with every id of the batch worked out, may the caches let anything go.
        for name, vm in batch_vms.items():
            vms.add(vm, name, name)
        for body, actor in batch_actors.items():
            actors.add(actor, body, orjson.loads(body))
        vms.last, actors.last = last_vm, last_actor
        return new_vms, new_actors, rows

    def forget_after(self, last_vm: int, last_actor: int) -> None:
        """Drop ids above these: they belonged to a transaction that rolled back."""
        self.vms.forget_after(last_vm)
        self.actors.forget_after(last_actor)

    # -- decoding ----------------------------------------------------------------------------

    def decode(self, row: Any, found: Found | None = None) -> Event:
        """The event of a stored row (seq, type, vm, at, actor, data). KeyError: the row names
        an intern id this cache does not hold (refresh, then try again)."""
        seq, code, vm, at, actor, data = row
        kind = CODE_TYPES.get(code)
        if kind is None:
            raise StoreCorrupt(f"event {seq} has an unknown type code {code!r}", seq)
        if found is None:
            name, who = self.vms.value(vm), self.actors.value(actor)
        else:
            name = found.vm_names[vm] if vm in found.vm_names else self.vms.value(vm)
            held = found.actor_bodies
            who = held[actor] if actor in held else self.actors.value(actor)
        if not isinstance(at, int):
            raise StoreCorrupt(f"event {seq} has a non-integer time {at!r}", seq)
        try:
            return Event(seq, kind, name, at, who, decode_data(data))
        except (ValueError, TypeError) as error:
            raise StoreCorrupt(f"event {seq} does not decode: {error}", seq) from error

    def decode_all(self, rows: Sequence[Any], found: Found | None = None) -> list[Event]:
        """Like `decode` for each row, for a second try after a refresh: a missing id now is
        a broken reference."""
        events = []
        for row in rows:
            try:
                events.append(self.decode(row, found))
            except KeyError as error:
                raise StoreCorrupt(
                    f"event {row[0]} refers to a missing VM or actor {error}", row[0]
                ) from error
        return events

    def replay_view(
        self, rows: Sequence[Any], found: Found
    ) -> tuple[Mapping[int, str], Callable[[Any], Event]]:
        """`names` and `decode` for a chunk of startup replay (`ReplayChunk`): the cache itself
        while it has never been split (the usual case, and the fast one: no pass over the
        rows), else this chunk's own."""
        whole = self.vms.single()
        if whole is not None and self.actors.complete:
            return whole, self.decode
        wanted = {row[2] for row in rows} - found.vm_names.keys()
        names = {vm: self.vms.value(vm) for vm in wanted if self.vms.holds(vm)}
        names.update(found.vm_names)
        return names, lambda row: self.decode(row, found)
