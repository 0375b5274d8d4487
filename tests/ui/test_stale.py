"""Stale VMs stand out: a registry with a one-second stale window, so the reaper marks a silent
VM within moments."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register

server = server_fixture("ui-stale", "--stale-after", "1", "--reap-interval", "0.1")


def test_a_silent_vm_is_marked_stale_until_it_checks_in(
    server: ServerProcess, dashboard_for: Any
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        already = new_id("old")
        register(http, already)
        tab = dashboard_for(server.url).open()
        tab.wait_live()
        vm_id = new_id("quiet")
        register(http, vm_id)
        row = tab.row(vm_id)
        row.locator(".badge.stale").wait_for()  # the reaper's vm.stale, live
        assert "stale" in (row.get_attribute("class") or "")
        assert "stale" in (tab.row(already).get_attribute("class") or "")
        stale_chip = tab.page.locator('#counts [data-count="stale"]')
        assert int(stale_chip.get_attribute("data-value") or 0) >= 2

        # Checking in ends the episode. (An update rather than a heartbeat: a paused VM is not
        # reaped again a second later, so the test does not race the next window.)
        assert http.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code == 200
        row.locator(".badge.stale").wait_for(state="detached")
        assert "stale" not in (row.get_attribute("class") or "").split()

        # The status filter has "stale": only stale VMs.
        tab.page.select_option("#filter-status", "stale")
        tab.row(vm_id).wait_for(state="detached")
        assert already in tab.shown_ids()
