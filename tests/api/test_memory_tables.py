"""Issue #25: every long-lived table a client can grow has a byte bound, and here each one is
driven with distinct hostile values through the HTTP API of a real server while the server's
RSS is measured. Each test asserts the growth stays under the worst case docs/reliability.md
("Tables clients can grow") documents for that table, plus the allocator slack below; before
the bounds, each of these grew past it (the figures are in each test).

The feed's tail is set small (`--feed-tail-bytes`), so that what is measured is the table under
test, not the tail, which has its own test (tests/api/test_memory_bounds.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import vm
from tests.support.memory import KiB, MiB, rss, within
from tests.support.server import ServerProcess

TAIL = 4 * MiB
TAIL_ARGS = ["--feed-tail-bytes", str(TAIL)]
# What the tail can hold besides its frames: 1 KiB per item (feed/tail.py), at most 20,000.
TAIL_WORST = TAIL + 20_000 * KiB
# Allocator slack: freed memory the allocator keeps, and what a busy server's first few
# thousand requests leave behind (connection buffers, litestar's caches).
SLACK = 20 * MiB
# One VM in the projection with its cached rendering, at the default entry limit.
ONE_VM = 416 * KiB
# The shared-values table (domain/interning.py): 6.5 times its 4 MiB budget.
SHARED_VALUES_WORST = int(6.5 * 4 * MiB)


def start(tmp_path: Path, *args: str) -> ServerProcess:
    return ServerProcess(tmp_path / "registry.db", args=[*TAIL_ARGS, *args]).start()


def test_distinct_metadata_patched_onto_one_vm_is_bounded(tmp_path: Path) -> None:
    """The issue's case: one VM PATCHed with 30 KB of fresh metadata each time. The shared
    values table kept every one (10,000 by count, about 93 KB each with its key): 1,500
    PATCHes grew the server by about 140 MiB."""
    server = start(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("big")).status_code == 201

            def patch(n: int) -> None:
                metadata = {"pad": f"{n:08d}" + "x" * 30_000}
                answer = http.patch("/registry/vms/big", json={"metadata": metadata})
                assert answer.status_code == 200, answer.text

            for n in range(100):  # the allocator's first arenas, and the tail's fill
                patch(n)
            before = rss(server)
            for n in range(100, 1_600):
                patch(n)
            grown = rss(server) - before
        bound = SHARED_VALUES_WORST + TAIL_WORST + ONE_VM + SLACK
        assert grown < bound, within(grown, bound)
    finally:
        server.kill()
