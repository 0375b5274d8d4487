"""Metric families the collectors build the same way."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import GaugeMetricFamily


def gauge_by(
    name: str, documentation: str, label: str, counts: Mapping[str, int]
) -> GaugeMetricFamily:
    """One gauge labelled by `label`, a sample for each of `counts`. Callers pass every label
    value, zeros included, so that a series never vanishes from a scrape when it drops to none."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family
