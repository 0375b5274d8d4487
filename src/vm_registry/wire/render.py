"""Entries and events as JSON objects, and the cached encoding of entries the list routes
and the feed share. Domain objects never go out as they are: they are rendered here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.domain.timestamps import to_iso


def entry(item: Entry, stale: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "role": item.role,
        "status": item.status,
        "address": item.address,
    }
    if item.services is not None:
        body["services"] = item.services
    if item.metadata is not None:
        body["metadata"] = item.metadata
    body["registeredBy"] = item.registered_by
    registered = to_iso(item.registered_at)
    body["registeredAt"] = registered
    # Until its first heartbeat a VM was last seen as it registered: one rendering of the time.
    same = item.last_seen == item.registered_at
    body["lastSeen"] = registered if same else to_iso(item.last_seen)
    body["revision"] = item.revision
    body["stale"] = stale
    if item.health is not None:  # only where a service's health was checked
        body["health"] = item.health
    return body


def event(item: Event) -> dict[str, Any]:
    return {
        "seq": item.seq,
        "type": item.type,
        "vmId": item.vm_id,
        "at": to_iso(item.at),
        "actor": item.actor,
        "data": item.data,
    }


class EntryRenderer:
    """Encodes each version of an entry to JSON once, and lists by joining those bytes.

    Entries are immutable, so a cached encoding is valid for as long as the projection still
    holds that very object. Only the fresh (not stale) rendering is cached: staleness can change
    with the clock alone, and stale entries are few.

    Bounded in bytes: when what it holds passes twice what it held after the last pruning plus
    `PRUNE_SLACK`, renderings of VMs no longer in `live()` (the projection's entries) are let go.
    So the renderings of deregistered VMs never take more than those of the live fleet plus
    `PRUNE_SLACK` (registration churn with fresh ids once grew it until someone listed).
    """

    PRUNE_SLACK = 1024 * 1024

    def __init__(self, live: Callable[[], Mapping[str, Entry]] | None = None) -> None:
        self._cache: dict[str, tuple[Entry, bytes]] = {}
        self._live = live
        self.bytes = 0  # of the renderings held
        self._prune_at = self.PRUNE_SLACK

    def encode(self, item: Entry, stale: bool) -> bytes:
        if stale:
            return orjson.dumps(entry(item, True))
        hit = self._cache.get(item.id)
        if hit is not None and hit[0] is item:
            return hit[1]
        # orjson's result keeps a buffer of at least 4 KiB behind every bytes object; an exact
        # copy brings a cached entry from 4 KiB to its real size (about 300 bytes).
        raw = bytes(memoryview(orjson.dumps(entry(item, False))))
        self._cache[item.id] = (item, raw)
        self.bytes += len(raw) - (0 if hit is None else len(hit[1]))
        if self.bytes > self._prune_at and self._live is not None:
            self._prune(self._live())
        return raw

    def _prune(self, live: Mapping[str, Entry]) -> None:
        self._cache = {k: v for k, v in self._cache.items() if k in live}
        self.bytes = sum(len(raw) for _, raw in self._cache.values())
        self._prune_at = 2 * self.bytes + self.PRUNE_SLACK

    def list_body(self, items: list[Entry], stale: list[bool], live: Mapping[str, Entry]) -> bytes:
        if len(self._cache) > 2 * len(live) + 1024:  # forget deregistered ids now and then
            self._prune(live)
        parts = [self.encode(item, flag) for item, flag in zip(items, stale, strict=True)]
        head, tail = b'{"vms":[', b'],"count":%d}' % len(parts)
        if not parts:
            return head + tail
        # One join builds the body: 100,000 entries make ~38 MB, and every extra concatenation
        # of that would copy it whole again.
        parts[0] = head + parts[0]
        parts[-1] = parts[-1] + tail
        return b",".join(parts)
