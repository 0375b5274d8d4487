"""Gauges read off the running registry at scrape time: the fleet, the log, the feed, snapshots
and replication.

Nothing here is kept beside the projection by hand: each scrape walks the projection (one pass,
O(fleet)) and reads counters the feed keeps anyway, so the figures cannot drift from what the
API answers. Values that need the database (the newest snapshot, and on PostgreSQL the log's
size) are read by `refresh()`, which the `/metrics` handler awaits before rendering, since a
collector cannot await.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vm_registry.domain.model import ROLES, STATUSES
from vm_registry.feed.broker import Broker
from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.log import EventLog, EventQuery
from vm_registry.persistence.store import Store
from vm_registry.service.registry import Registry
from vm_registry.telemetry.families import gauge_by


@dataclass(slots=True)
class NewestSnapshot:
    seq: int
    at_ms: int | None  # the time of the event it was taken at; None if compacted away


class RegistryCollector(Collector):
    def __init__(
        self,
        registry: Registry,
        broker: Broker,
        queue_depth: Callable[[], int],
        leadership: Any = None,
        *,
        storage: Store,
    ) -> None:
        self.registry = registry
        self.storage = storage
        self.broker = broker
        self.queue_depth = queue_depth
        # The scale-out work's leadership (with `is_leader`), when there is one.
        self.leadership = leadership
        self.snapshot: NewestSnapshot | None = None

    @property
    def store(self) -> EventLog:
        return self.storage.log

    async def refresh(self) -> None:
        """Read what only the database knows: the log's size (where that takes a query), the
        newest snapshot and when it was taken."""
        await self.storage.measure_bytes()  # never raises: keeps its last figure instead
        try:
            found = await self.storage.snapshots.infos()
            if not found:
                self.snapshot = None
                return
            seq = found[0].seq
            if self.snapshot is not None and self.snapshot.seq == seq:
                return
            events = await self.store.read(EventQuery(after=seq - 1, limit=1, upto=seq))
            self.snapshot = NewestSnapshot(seq, events[0].at if events else None)
        except StoreError:
            return  # keep the last known figures; the log's own trouble shows elsewhere

    def describe(self) -> list[Metric]:
        return []  # an unchecked collector: its series depend on the backend

    def collect(self) -> Iterator[Metric]:
        yield from self._fleet()
        yield from self._log()
        yield from self._feed()
        yield from self._snapshots()
        yield from self._replication()

    def _fleet(self) -> Iterator[Metric]:
        registry = self.registry
        counts = {(role, status): 0 for role in ROLES for status in STATUSES}
        stale = dict.fromkeys(ROLES, 0)
        now = registry.clock()
        for entry in registry.vms.values():
            key = (entry.role, entry.status)
            counts[key] = counts.get(key, 0) + 1
            if entry.stale and registry.is_stale(entry, now):
                stale[entry.role] = stale.get(entry.role, 0) + 1
        vms = GaugeMetricFamily(
            "vm_registry_fleet_vms", "Registered VMs, by role and status", labels=["role", "status"]
        )
        for (role, status), count in counts.items():
            vms.add_metric([role, status], count)
        yield vms
        yield gauge_by(
            "vm_registry_fleet_stale_vms",
            "Running VMs marked stale (silent for the stale window), by role",
            "role",
            stale,
        )
        yield GaugeMetricFamily(
            "vm_registry_expiry_guard_holding",
            "1 while the mass-expiry guard holds (staleness suspended), else 0",
            value=1 if registry.staleness_suspended else 0,
        )

    def _log(self) -> Iterator[Metric]:
        store = self.store
        yield GaugeMetricFamily(
            "vm_registry_log_head_seq", "Seq of the newest event in the log", value=store.head
        )
        yield GaugeMetricFamily(
            "vm_registry_log_first_seq",
            "Seq of the oldest event the log still holds (older ones were compacted)",
            value=store.first_seq,
        )
        yield GaugeMetricFamily(
            "vm_registry_projection_seq",
            "Seq of the newest event folded into this process's projection",
            value=self.registry.revision,
        )
        yield GaugeMetricFamily(
            "vm_registry_writer_queue_depth",
            "Commands waiting for the writer",
            value=self.queue_depth(),
        )
        size = self.storage.bytes_on_disk()
        if size is not None:
            yield GaugeMetricFamily(
                "vm_registry_log_bytes",
                "Bytes of the log on disk: the SQLite file and its write-ahead log, or the "
                "PostgreSQL tables of the log with their indexes",
                value=size,
            )

    def _feed(self) -> Iterator[Metric]:
        broker = self.broker
        yield GaugeMetricFamily(
            "vm_registry_feed_subscribers", "Open change-feed streams", value=broker.subscribers
        )
        for name, help_text, value in (
            ("frames_sent", "Event frames written to change-feed streams", broker.frames_sent),
            (
                "catch_ups",
                "Times a stream replayed from the log (behind the tail)",
                broker.catch_ups,
            ),
            ("gone", "Streams refused with 410: the resume point was compacted", broker.gone),
            ("refused", "Streams refused with 503: at the subscriber limit", broker.refused),
        ):
            yield CounterMetricFamily(f"vm_registry_feed_{name}", help_text, value=value)

    def _snapshots(self) -> Iterator[Metric]:
        newest = self.snapshot
        if newest is None:
            return
        yield GaugeMetricFamily(
            "vm_registry_snapshot_seq", "Seq of the newest snapshot", value=newest.seq
        )
        yield GaugeMetricFamily(
            "vm_registry_snapshot_behind_events",
            "Events in the log after the newest snapshot (what a restart must fold)",
            value=max(self.store.head - newest.seq, 0),
        )
        if newest.at_ms is not None:
            yield GaugeMetricFamily(
                "vm_registry_snapshot_age_seconds",
                "Seconds since the event the newest snapshot was taken at",
                value=max(time.time() - newest.at_ms / 1000, 0.0),
            )

    def _replication(self) -> Iterator[Metric]:
        # Only with a shared log (PostgreSQL): a SQLite log has one process, always current.
        if not self.storage.shared:
            return
        lag = getattr(self.registry, "lag", None)
        if isinstance(lag, int):
            yield GaugeMetricFamily(
                "vm_registry_replica_lag_events",
                "Events committed to the log that this replica has not folded yet",
                value=lag,
            )
        if self.leadership is not None:
            yield GaugeMetricFamily(
                "vm_registry_leader",
                "1 if this replica holds the log's leadership (reaper, snapshots), else 0",
                value=1 if self.leadership.is_leader else 0,
            )
