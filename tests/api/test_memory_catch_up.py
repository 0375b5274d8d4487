"""A watcher resuming from before the feed's tail is caught up from the log a page at a time,
and a page was 20,000 rows whatever their size: with 60 KB of metadata in each, a watcher
resuming from seq 0 held every row of a 2,000-event log at once with its decoded event, and
the server grew by about 575 MiB while it read them. Pages now also end once their rows' data
reach 4 MiB (persistence/sql/reading.py, `PAGE_BYTES`; docs/reliability.md, "Memory"): the
server grows by about 35 MiB (17 to 20 with 1 MiB pages, 63 with 8 MiB).
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.api.test_memory_tables import TAIL_ARGS, hammer
from tests.conftest import vm
from tests.support.memory import MiB, rss, within
from tests.support.server import ServerProcess

PATCHES = 2_000
# A page's rows (4 MiB of data, plus the row that reached it), its decoded events, the frames
# packed from them and the writes joined from those (measured: about six times the page's
# data), and the allocator's slack.
CATCH_UP_WORST = 64 * MiB


def patch(http: httpx.Client, n: int) -> None:
    metadata = {"pad": f"{n:08d}" + "x" * 60_000}
    answer = http.patch("/registry/vms/big", json={"metadata": metadata})
    assert answer.status_code == 200, answer.text


def peak_while(server: ServerProcess, done: threading.Event) -> tuple[list[int], threading.Thread]:
    """The server's RSS every few milliseconds until `done`, in a thread (started here). Join
    the thread before stopping the server: a sample read from a process that is exiting finds
    no `VmRSS` line."""
    samples: list[int] = []

    def sample() -> None:
        while not done.wait(0.005):
            samples.append(rss(server))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    return samples, sampler


def read_to(server: ServerProcess, head: int) -> None:
    """Read a stream resuming from seq 0 until it has sent the event at `head`."""
    last = b"id: %d\n" % head
    window = b""
    with (
        httpx.Client(base_url=server.url, timeout=120) as http,
        http.stream("GET", "/registry/stream", params={"after": "0"}) as stream,
    ):
        assert stream.status_code == 200
        for piece in stream.iter_raw():
            window = window[-len(last) :] + piece
            if last in window:
                return


@pytest.mark.timeout(400)  # thousands of 60 KB writes, on a busy machine
def test_a_watcher_resuming_from_the_start_of_a_large_log_reads_it_in_bounded_pages(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "registry.db", args=TAIL_ARGS).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("big")).status_code == 201
        hammer(server, 0, PATCHES, patch)
        head = PATCHES + 1
        before = rss(server)
        done = threading.Event()
        samples, sampler = peak_while(server, done)
        try:
            read_to(server, head)
        finally:
            done.set()
            sampler.join()
        grown = max([before, *samples]) - before
    finally:
        server.kill()
    assert grown < CATCH_UP_WORST, within(grown, CATCH_UP_WORST)


def test_a_page_of_the_log_ends_where_its_events_data_reach_4_mib(tmp_path: Path) -> None:
    """`GET /registry/events?limit=1000` read, decoded and encoded up to 1,000 events at once,
    64 MB with 64 KiB of metadata each; a page now ends at the event whose data bring it to
    4 MiB, and `next` goes on from there (a page shorter than `limit` was never the end)."""
    server = ServerProcess(tmp_path / "registry.db", args=TAIL_ARGS).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("big")).status_code == 201
            hammer(server, 0, 150, patch)
            pages: list[list[int]] = []
            after = 0
            while True:
                answer = http.get("/registry/events", params={"after": after, "limit": 1000})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                if not body["events"]:
                    break
                pages.append([event["seq"] for event in body["events"]])
                after = body["next"]
    finally:
        server.kill()
    # About 60 KB of data a PATCH: 70 of them reach 4 MiB (the first page has the registration).
    assert [len(p) for p in pages] == [71, 70, 10]
    assert [seq for p in pages for seq in p] == list(range(1, 152))
