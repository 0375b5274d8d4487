"""What a scenario reports: one `Outcome` per numbered scenario of the issue's table.

Figures are medians over the runs. A ceiling row (`label` "C1"...: the same server with an app
that does no work, `scenarios/ceilings.py`) carries the number of the scenario it caps, so it
sorts right after it. `reference` is the peer's figure (or the scenario's own
in-process reference), and `ratio` is the median of the per-run ratios: each run measures both
sides back to back, alternating which goes first, which cancels most of the noise of a shared
machine (a neighbour's load slows both sides of a pair alike).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

OK = "ok"
SKIPPED = "skipped"
NOT_BUILT = "not built"
FAILED = "failed"


@dataclass
class Outcome:
    number: int
    title: str
    target: str
    status: str = OK
    note: str = ""
    figure: float | None = None
    unit: str = ""
    reference: float | None = None
    reference_unit: str = ""
    ratio: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # the row's name when it is not "P<number>" (the ceilings)

    @property
    def name(self) -> str:
        return self.label or f"P{self.number}"

    def skip(self, why: str, status: str = SKIPPED) -> Outcome:
        self.status, self.note = status, why
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return float(ordered[min(rank, len(ordered) - 1)])


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits) if math.isfinite(value) else value
