"""The dashboard's selector box (issue #24): the server decides which VMs match, and the table
follows the set live as VMs enter and leave it by their metadata; a malformed selector shows
the server's message."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register

server = server_fixture("ui-selector")
http = http_fixture()


def test_the_selector_box_shows_the_set_live(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    tag = new_id("sel")
    register(http, f"{tag}-a", metadata={"run": tag, "task": "billing"})
    register(http, f"{tag}-b", metadata={"run": tag, "task": "search"})
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.page.fill("#filter-selector", f"run={tag},task=billing")
    tab.shows([f"{tag}-a"])
    assert http.patch(f"/registry/vms/{tag}-b", json={"metadata": {"run": tag, "task": "billing"}})
    tab.shows([f"{tag}-b", f"{tag}-a"])  # entered the set
    assert http.patch(f"/registry/vms/{tag}-a", json={"metadata": {"run": tag}})
    tab.shows([f"{tag}-b"])  # left it
    tab.page.fill("#filter-selector", "task in billing")
    tab.shows([])
    error = tab.page.locator("#selector-error").inner_text()
    assert "selector is malformed at character 9" in error
    tab.page.fill("#filter-selector", "")
    tab.search(tag)
    tab.shows([f"{tag}-b", f"{tag}-a"])
