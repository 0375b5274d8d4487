"""Retention's figures, read at scrape time (docs/audit.md). No series while retention is off,
rather than zeros that would read as a policy that drops nothing."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vm_registry.service.retention import Retention


class RetentionCollector(Collector):
    def __init__(self, retention: Retention) -> None:
        self.retention = retention

    def describe(self) -> list[Metric]:
        return []  # unchecked, like the registry collector

    def collect(self) -> Iterator[Metric]:
        figures = self.retention.figures
        yield GaugeMetricFamily(
            "vm_registry_retention_oldest_seq",
            "Seq of the oldest event the live log holds under the retention policy",
            value=figures.oldest_seq,
        )
        if figures.oldest_at is not None:
            yield GaugeMetricFamily(
                "vm_registry_retention_oldest_timestamp_seconds",
                "Time of the oldest event the live log holds, Unix seconds",
                value=figures.oldest_at / 1000,
            )
        yield CounterMetricFamily(
            "vm_registry_retention_dropped_events",
            "Events retention dropped from the live log (this process)",
            value=figures.dropped,
        )
        yield CounterMetricFamily(
            "vm_registry_retention_steps", "Retention steps (one cut each)", value=figures.steps
        )
        yield GaugeMetricFamily(
            "vm_registry_retention_last_step_seconds",
            "Duration of the last retention step: state, archive, cut, deletion, reclaim",
            value=figures.last_step_seconds,
        )
        yield GaugeMetricFamily(
            "vm_registry_retention_archived",
            "1 when dropped events are archived first (--archive-dir), 0 when they are lost",
            value=1 if self.retention.archived else 0,
        )
        yield GaugeMetricFamily(
            "vm_registry_retention_archive_files",
            "Archive files in the archive directory",
            value=figures.archive_files,
        )
        yield GaugeMetricFamily(
            "vm_registry_retention_archive_bytes",
            "Bytes of the archive files in the archive directory",
            value=figures.archive_bytes,
        )
