"""What an entry at the limit costs in memory, whatever the shape of its JSON.

docs/reliability.md derives the worst-case memory of the registry from this figure: services
and metadata that pass the entry limit take at most `FACTOR` times the limit as Python objects.
Without the bound on the number of values, an array of empty objects would take 24 times its
encoded size (a 64 KiB entry, 1.5 MB).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from vm_registry.domain.errors import TooLarge
from vm_registry.domain.events import REGISTERED, Event
from vm_registry.domain.fold import State, apply
from vm_registry.domain.validation import MAX_ENTRY_BYTES, check_entry_size
from vm_registry.wire.bodies import registration
from vm_registry.wire.render import EntryRenderer

FACTOR = 5.5  # documented in docs/reliability.md

SHAPES: dict[str, Callable[[int], Any]] = {
    "empty objects": lambda n: {"a": [{} for _ in range(n)]},
    "empty arrays": lambda n: {"a": [[] for _ in range(n)]},
    "objects of one key": lambda n: {"a": [{"k": i} for i in range(n)]},
    "distinct keys": lambda n: {str(i): 0 for i in range(n)},
    "one-character strings": lambda n: {"a": [chr(65 + i % 50) for i in range(n)]},
    "floats": lambda n: {"a": [i + 0.5 for i in range(n)]},
    "large integers": lambda n: {"a": [10**18 + i for i in range(n)]},
    "one string": lambda n: {"a": "x" * n},
    "emoji": lambda n: {"a": "\U0001f600" * n},
    "empty objects and a string": lambda n: {"a": [{} for _ in range(3000)], "s": "x" * n},
}


def largest_accepted(make: Callable[[int], Any], limit: int) -> Any:
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        try:
            check_entry_size(None, make(middle), limit)
            low = middle
        except TooLarge:
            high = middle - 1
    return make(low)


def python_bytes(raw: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        value = orjson.loads(raw)  # as the server holds it: parsed from the body
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del value
    return size


@pytest.mark.parametrize("shape", SHAPES)
def test_an_entry_at_the_limit_costs_at_most_the_documented_factor(shape: str) -> None:
    value = largest_accepted(SHAPES[shape], MAX_ENTRY_BYTES)
    assert python_bytes(orjson.dumps(value)) <= FACTOR * MAX_ENTRY_BYTES


PER_VM = 6 * MAX_ENTRY_BYTES + 32 * 1024  # documented in docs/reliability.md


def test_a_vm_at_the_limits_costs_at_most_the_documented_figure() -> None:
    """In the projection, with its cached rendering, and the longest strings a registration
    may hold (emoji: four bytes a character in Python as in UTF-8)."""
    longest = "\U0001f600" * 1024
    metadata = {"a": [{} for _ in range(3000)], "s": "x" * 52_000}  # the worst mix measured
    renderer = EntryRenderer()
    state = State()
    count = 50
    gc.collect()
    tracemalloc.start()
    try:
        for n in range(count):
            body = {
                "id": "\U0001f600" * 250 + f"{n:03d}",
                "name": longest,
                "role": "worker",
                "address": longest,
                "registeredBy": longest,
                "metadata": metadata,
            }
            data = registration(orjson.loads(orjson.dumps(body)))
            vm_id = data.pop("id")
            apply(state, Event(n + 1, REGISTERED, vm_id, 1_000 + n, {"ip": "127.0.0.1"}, data))
            renderer.encode(state.entries[vm_id], False)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held / count <= PER_VM, f"{held / count / 1024:.0f} KiB per VM"
