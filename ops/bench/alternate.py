"""Measuring two servers alternately: each run measures every side once, back to back.

The machine is shared, so two figures are only comparable when taken under the same load. Each
run measures both sides right after each other, and the side that goes first rotates from run
to run, so neither always gets the warmer (or the quieter) slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

T = TypeVar("T")

PEER = "peer"
OURS = "ours"


async def alternate(
    runs: int, sides: Mapping[str, Callable[[int], Awaitable[T]]]
) -> dict[str, list[T]]:
    """`runs` measurements of each side; `sides[name](run_number)` takes one."""
    names = list(sides)
    results: dict[str, list[T]] = {name: [] for name in names}
    for number in range(runs):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(await sides[name](number))
    return results
