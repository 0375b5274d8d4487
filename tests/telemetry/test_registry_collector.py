"""The scrape-time collector as a pure unit: the series that only a shared (PostgreSQL) log has.

The end-to-end tests (test_metrics.py) check that these series are absent on SQLite and present
on PostgreSQL (`make test-postgres`); here a stand-in store shared by replicas shows what they
say, read from the registry's lag and the leadership, as a follower and as the leader."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from vm_registry.telemetry.registry_collector import RegistryCollector


def collected(collector: RegistryCollector) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in collector._replication()
        for sample in family.samples
    }


def shared_log_registry(lag: int) -> Any:
    return SimpleNamespace(lag=lag)


# Not a SQLite log: what a PostgreSQL-backed store looks like to the collector.
SHARED = SimpleNamespace(log=SimpleNamespace(head=120, first_seq=1), shared=True)


def test_a_replica_on_a_shared_log_reports_its_lag_and_leadership() -> None:
    follower = RegistryCollector(
        shared_log_registry(lag=7), broker=None, queue_depth=lambda: 0,  # type: ignore[arg-type]
        leadership=SimpleNamespace(is_leader=False), storage=SHARED,
    )  # fmt: skip
    assert collected(follower) == {"vm_registry_replica_lag_events": 7, "vm_registry_leader": 0}
    leader = RegistryCollector(
        shared_log_registry(lag=0), broker=None, queue_depth=lambda: 0,  # type: ignore[arg-type]
        leadership=SimpleNamespace(is_leader=True), storage=SHARED,
    )  # fmt: skip
    assert collected(leader) == {"vm_registry_replica_lag_events": 0, "vm_registry_leader": 1}
