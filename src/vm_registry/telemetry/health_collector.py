"""Health checks and blocking queries, read at scrape time.

The checker keeps its own counts (probes by result, transitions written, transitions the rate
limit held back) because probes leave no other trace: the log records transitions only. The
services' current statuses are counted off the projection, like the fleet's gauges.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vm_registry.domain.model import HEALTH_STATUSES
from vm_registry.service.blocking_queries import BlockingQueries
from vm_registry.service.health_checks import HealthChecker
from vm_registry.service.probe import RESULTS
from vm_registry.service.registry import Registry
from vm_registry.telemetry.families import gauge_by


class HealthCollector(Collector):
    def __init__(
        self, registry: Registry, checker: HealthChecker | None, queries: BlockingQueries
    ) -> None:
        self.registry = registry
        self.checker = checker
        self.queries = queries

    def describe(self) -> list[Metric]:
        return []  # unchecked, like the registry collector

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "vm_registry_blocking_queries_held",
            "Blocking queries (?index=&wait=) held right now",
            value=self.queries.held,
        )
        checker = self.checker
        if checker is None:  # health checks are off: no series that would read as zero probes
            return
        probes = CounterMetricFamily(
            "vm_registry_health_probes",
            "Health probes made, by result (passing, failing, timeout, unreachable, refused)",
            labels=["result"],
        )
        for result in RESULTS:
            probes.add_metric([result], checker.probes[result])
        yield probes
        yield CounterMetricFamily(
            "vm_registry_health_transitions",
            "vm.health events written by this replica's checker",
            value=checker.transitions,
        )
        yield CounterMetricFamily(
            "vm_registry_health_transitions_held_back",
            "Status changes the per-VM rate limit kept out of the log (for now)",
            value=checker.suppressed,
        )
        yield CounterMetricFamily(
            "vm_registry_health_round_failures",
            "Health-check rounds the prober could not finish (its process died or hung)",
            value=checker.round_failures,
        )
        yield GaugeMetricFamily(
            "vm_registry_health_rounds_failing",
            "Health-check rounds in a row, up to the latest, that could not finish (0: working)",
            value=checker.failing_rounds,
        )
        statuses = dict.fromkeys(HEALTH_STATUSES, 0)
        for entry in self.registry.vms.values():
            for status in (entry.health or {}).values():
                statuses[status] = statuses.get(status, 0) + 1
        yield gauge_by(
            "vm_registry_health_services", "Checked services by their recorded status", "status",
            statuses,
        )  # fmt: skip
