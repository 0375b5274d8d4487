"""The dashboard's time travel says how far back it can go (issue #23): once retention dropped
older history, the picker shows the oldest event the log holds and will not pick before it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.retention.run import retained, wait_for
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register

server = server_fixture("reach", "--retain", "1s", "--retain-interval", "0.2")
http = http_fixture()


def test_time_travel_shows_how_far_back_it_can_go(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    vm_id = new_id("reach")
    register(http, vm_id)

    def moved() -> bool:
        http.post(f"/registry/vms/{vm_id}/heartbeat")
        return bool(retained(http)["oldestSeq"] > 5)

    wait_for(moved)
    # Writes stopped: the window closes up to the newest event, which stays, and stands still.
    head = int(http.get("/health").json()["head"])
    wait_for(lambda: retained(http)["oldestSeq"] == head)
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.page.wait_for_selector("#travel-reach:text('history from')")
    oldest = http.get("/registry/events", params={"limit": 1}).json()["events"][0]
    assert oldest["seq"] == head > 1
    assert f"{oldest['at']} (event {head})" in tab.page.inner_text("#travel-reach")
    assert tab.page.get_attribute("#travel-time", "min")  # the picker stops there
