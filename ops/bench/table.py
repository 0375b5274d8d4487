"""The printed table: one row per scenario, in the order of the issue (P1 to P17), each
ceiling row (C1...) right after the scenario it caps.

"peer" is the other registry measured in the same run (`--peer-url`), or the scenario's own
reference where there is no peer figure (P7's raw fold); "ratio" is ours over it, the median
of the per-run ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ops.bench.outcome import OK, Outcome

HEADER = ("#", "scenario", "peer", "ours", "ratio", "p50 ms", "p99 ms", "target", "result")


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".strip()


def verdict(result: Outcome) -> str:
    if result.status != OK:
        return result.status
    return {True: "met", False: "MISSED", None: "-"}[result.met]


def rows(results: Sequence[Outcome]) -> list[tuple[str, ...]]:
    return [
        (
            r.name,
            r.title,
            _number(r.reference, r.reference_unit),
            _number(r.figure, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            _number(r.p50_ms),
            _number(r.p99_ms),
            r.target,
            verdict(r),
        )
        for r in results
    ]


def render(results: Sequence[Outcome], *, markdown: bool = False) -> str:
    body = rows(results)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(row[i]) for row in [HEADER, *body]) for i in range(len(HEADER))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [HEADER, *body]
        ]
    notes = [f"{r.name}: {r.note}" for r in results if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))
