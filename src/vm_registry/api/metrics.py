"""What `GET /metrics` (`api/routes/metrics.py`) renders, in Prometheus's text format, through
the official `prometheus_client`.

Each app has its own `CollectorRegistry` (never the library's global one), so two apps in one
process (tests) keep separate figures. It holds the HTTP figures (observed by
`api/request_log.py`), the writer's (`telemetry/writer_metrics.py`, an observer the writer
calls), the scrape-time collectors of the fleet, log, feed, snapshots, health checks and
blocking queries (`telemetry/registry_collector.py`, `telemetry/health_collector.py`), and the
library's own process, platform and garbage-collector collectors.

With auth on, the route needs a token of any scope (each can read), unless `--metrics-public`
opens it: Prometheus then scrapes without a secret, and the figures show only counts.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from vm_registry.service.runtime import Runtime
from vm_registry.telemetry.health_collector import HealthCollector
from vm_registry.telemetry.registry_collector import RegistryCollector
from vm_registry.telemetry.retention_collector import RetentionCollector
from vm_registry.telemetry.writer_metrics import WriterMetrics

# Agents' calls answer in about a millisecond; the change feed's latency is its time to open.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The label of a request no route matched (404s from the router): its raw path is unbounded.
UNMATCHED = "unmatched"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vm_registry_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "vm_registry_http_request_duration_seconds",
            "Time from a request's arrival to its response's start, by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # Children by label values: the hot path then skips `labels()`'s checks and lock.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float | None) -> None:
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            label = method if method in METHODS else "other"
            counter = self._requests[key] = self.requests.labels(route, label, str(status))
        counter.inc()
        if seconds is not None:
            histogram = self._latency.get(route)
            if histogram is None:
                histogram = self._latency[route] = self.latency.labels(route)
            histogram.observe(seconds)


class Telemetry:
    """Everything `/metrics` renders, for one app."""

    def __init__(self) -> None:
        # `_created` series double every counter's output and no alert needs them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http = HttpMetrics(self.registry)
        self.writer = WriterMetrics(self.registry)
        self.collector: RegistryCollector | None = None
        self.health: HealthCollector | None = None
        self.retention: RetentionCollector | None = None

    def attach(self, runtime: Runtime) -> None:
        """Once the runtime has started: the collectors read off its parts."""
        self.detach()
        self.collector = RegistryCollector(
            runtime.registry,
            runtime.feed,
            lambda: runtime.queue_depth,
            runtime.leadership,
            storage=runtime.store,
        )
        self.registry.register(self.collector)
        self.health = HealthCollector(runtime.registry, runtime.checker, runtime.blocking_queries)
        self.registry.register(self.health)
        if runtime.retention is not None:
            self.retention = RetentionCollector(runtime.retention)
            self.registry.register(self.retention)

    def detach(self) -> None:
        if self.collector is not None:
            self.registry.unregister(self.collector)
            self.collector = None
        if self.health is not None:
            self.registry.unregister(self.health)
            self.health = None
        if self.retention is not None:
            self.registry.unregister(self.retention)
            self.retention = None

    async def render(self) -> bytes:
        if self.collector is not None:
            await self.collector.refresh()
        return generate_latest(self.registry)
