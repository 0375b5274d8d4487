"""The intern tables `vms(id, name)` and `actors(id, body)`, cached in memory, and rows back
into events; the same for every backend, since they share the stored layout.

Each VM id and each distinct actor is stored once and referenced by a small integer from every
event row. Ids are handed out in order (`last + 1`) under the log's write lock, so a cache
refreshes incrementally: anything new has a larger id than what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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

VMS_AFTER = "SELECT id, name FROM vms WHERE id > {} ORDER BY id"
ACTORS_AFTER = "SELECT id, body FROM actors WHERE id > {} ORDER BY id"


class Interns:
    def __init__(self) -> None:
        self.vm_ids: dict[str, int] = {}
        self.vm_names: dict[int, str] = {}
        self.actor_ids: dict[bytes, int] = {}
        self.actor_bodies: dict[int, dict[str, Any]] = {}
        self.last_vm = 0
        self.last_actor = 0

    def learn(self, vms: Iterable[Any], actors: Iterable[Any]) -> None:
        """Add rows read with `VMS_AFTER` and `ACTORS_AFTER` (from `last_vm`, `last_actor`)."""
        for key, stored in vms:
            # A backend may store ids as UTF-8 bytes (PostgreSQL's TEXT refuses NUL).
            name = stored.decode() if isinstance(stored, bytes) else str(stored)
            self.vm_ids[name] = key
            self.vm_names[key] = name
            self.last_vm = max(self.last_vm, key)
        for key, body in actors:
            self.actor_ids[bytes(body)] = key
            self.actor_bodies[key] = orjson.loads(body)
            self.last_actor = max(self.last_actor, key)

    def rows_for(
        self, events: Sequence[Event], hashes: Sequence[bytes]
    ) -> tuple[list[tuple[int, str]], list[tuple[int, bytes]], list[Row]]:
        """The rows that store `events`: new intern rows first, then the event rows. New ids
        are taken at once; `forget_after` gives them back if the transaction fails."""
        new_vms: list[tuple[int, str]] = []
        new_actors: list[tuple[int, bytes]] = []
        rows: list[Row] = []
        for event, chain in zip(events, hashes, strict=True):
            vm = self.vm_ids.get(event.vm_id)
            if vm is None:
                vm = self.last_vm = self.last_vm + 1
                self.vm_ids[event.vm_id] = vm
                self.vm_names[vm] = event.vm_id
                new_vms.append((vm, event.vm_id))
            body = encode_actor(event.actor)
            actor = self.actor_ids.get(body)
            if actor is None:
                actor = self.last_actor = self.last_actor + 1
                self.actor_ids[body] = actor
                self.actor_bodies[actor] = orjson.loads(body)
                new_actors.append((actor, body))
            code = TYPE_CODES[event.type]
            rows.append((event.seq, code, vm, event.at, actor, encode_data(event.data), chain))
        return new_vms, new_actors, rows

    def forget_after(self, last_vm: int, last_actor: int) -> None:
        """Drop ids above these: they belonged to a transaction that rolled back."""
        for key in [k for k in self.vm_names if k > last_vm]:
            del self.vm_ids[self.vm_names.pop(key)]
        for key in [k for k in self.actor_bodies if k > last_actor]:
            del self.actor_bodies[key]
        self.actor_ids = {b: k for b, k in self.actor_ids.items() if k <= last_actor}
        self.last_vm, self.last_actor = last_vm, last_actor

    def decode(self, row: Any) -> Event:
        """The event of a stored row (seq, type, vm, at, actor, data). KeyError: the row names
        an intern id this cache has not seen yet (refresh, then try again)."""
        seq, code, vm, at, actor, data = row
        kind = CODE_TYPES.get(code)
        if kind is None:
            raise StoreCorrupt(f"event {seq} has an unknown type code {code!r}", seq)
        name, who = self.vm_names[vm], self.actor_bodies[actor]
        if not isinstance(at, int):
            raise StoreCorrupt(f"event {seq} has a non-integer time {at!r}", seq)
        try:
            return Event(seq, kind, name, at, who, decode_data(data))
        except (ValueError, TypeError) as error:
            raise StoreCorrupt(f"event {seq} does not decode: {error}", seq) from error

    def decode_all(self, rows: Sequence[Any]) -> list[Event]:
        """Like `decode` for each row, for a second try after a refresh: a missing id now is
        a broken reference."""
        events = []
        for row in rows:
            try:
                events.append(self.decode(row))
            except KeyError as error:
                raise StoreCorrupt(
                    f"event {row[0]} refers to a missing VM or actor {error}", row[0]
                ) from error
        return events
