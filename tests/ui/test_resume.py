"""A registry restart under an open dashboard: the page shows it is reconnecting, comes back by
itself with `Last-Event-ID` (not a new snapshot), and ends with every row once and every event
once, including those written while it was away."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register


def test_a_restart_is_survived_without_duplicates_or_gaps(
    tmp_path: Path, dashboard_for: Any
) -> None:
    server = ServerProcess(tmp_path / "registry.db").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            before = [register(http, new_id("before"))["id"] for _ in range(3)]
        tab = dashboard_for(server.url).open()
        tab.wait_live()
        tab.row(before[-1]).wait_for()
        last_seen = int(httpx.get(f"{server.url}/health").json()["revision"])

        assert server.stop() == 0
        tab.page.wait_for_selector('#connection[data-state="reconnecting"]')
        server = ServerProcess(server.db, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            during = [register(http, new_id("after"))["id"] for _ in range(3)]
            assert http.delete(f"/registry/vms/{before[0]}").status_code == 200
            assert (
                http.patch(f"/registry/vms/{before[1]}", json={"name": "moved"}).status_code == 200
            )
            log = http.get("/registry/events", params={"limit": 1000}).json()["events"]

        # The page backs off with jitter (2 s, then 4 s, ... at random), as every client should.
        tab.page.wait_for_selector('#connection[data-state="live"]', timeout=60_000)
        tab.row(before[0]).wait_for(state="detached")
        tab.row(during[-1]).wait_for()
        tab.page.locator(f'#events li[data-seq="{log[-1]["seq"]}"]').wait_for()
        assert sorted(tab.shown_ids()) == sorted([before[1], before[2], *during])
        assert tab.row(before[1]).locator("td.name").inner_text() == "moved"
        # Every event once, newest first: those the page opened with (read from the log up to
        # its snapshot), then those it was sent live; no duplicate, no gap.
        head = log[-1]["seq"]
        assert tab.ticker_seqs() == list(range(head, 0, -1))
        assert tab.not_reloaded()

        # It resumed: one snapshot at the start, then a stream from the last seq it had.
        streams = [(url, headers) for url, headers in tab.requests if "/registry/stream" in url]
        assert "snapshot=true" in streams[0][0]
        resumed = streams[-1]
        assert "snapshot" not in resumed[0]
        assert resumed[1].get("last-event-id") == str(last_seen)
    finally:
        server.kill()


def test_a_registry_with_a_shorter_log_is_mirrored_from_a_fresh_snapshot(
    tmp_path: Path, dashboard_for: Any
) -> None:
    """After a restore from an older backup (here: a new database), the page's last seq is
    beyond the registry's head. The registry refuses that resume point (400), and the page
    starts over from a snapshot instead of keeping rows that no longer exist. Then a quiet
    restart: the page is live again on connecting, though no event comes."""
    server = ServerProcess(tmp_path / "old.db").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            old = [register(http, new_id("old"))["id"] for _ in range(4)]
        tab = dashboard_for(server.url).open()
        tab.wait_live()
        tab.row(old[-1]).wait_for()

        assert server.stop() == 0
        server = ServerProcess(tmp_path / "restored.db", port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            restored = register(http, new_id("restored"))["id"]
        reconnect_now(tab)
        tab.shows([restored])
        assert tab.page.locator("#events li.snapshot").count() == 2

        # A quiet restart (nothing written since): the page is live again as soon as it is
        # connected, with no new snapshot and nothing twice.
        seqs = tab.ticker_seqs()
        assert server.stop() == 0
        tab.page.wait_for_selector('#connection[data-state="reconnecting"]')
        server = ServerProcess(server.db, port=server.port).start()
        reconnect_now(tab)
        tab.shows([restored])
        assert tab.page.locator("#events li.snapshot").count() == 2
        assert tab.ticker_seqs() == seqs
        assert tab.not_reloaded()
    finally:
        server.kill()


def reconnect_now(tab: Any) -> None:
    """The operator need not wait for the backoff: "Reconnect now" tries at once."""
    connection = tab.page.locator("#connection")
    deadline = time.monotonic() + 60
    while connection.get_attribute("data-state") != "live":
        assert time.monotonic() < deadline, "the page did not reconnect"
        if tab.page.is_visible("#reconnect-now"):
            # The page may reconnect by itself between the look and the click, hiding the
            # button: then there is nothing to click, and the loop sees it live.
            with contextlib.suppress(PlaywrightTimeout):
                tab.page.click("#reconnect-now", timeout=1000)
        tab.page.wait_for_timeout(100)
    assert tab.page.is_hidden("#reconnect-now")
