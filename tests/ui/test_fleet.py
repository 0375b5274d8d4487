"""The dashboard shows the fleet and keeps it live: one registry for the module, each test with
VM ids of its own (and a search on them where it counts rows)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.health.services import running_services
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register

# Health checks probe only services with a healthPath: the other tests' VMs have none.
server = server_fixture(
    "ui",
    "--health-checks", "--health-check-allow", "127.0.0.1", "--check-interval", "0.2",
    "--check-timeout", "0.5", "--check-failures", "1",
)  # fmt: skip


http = http_fixture()


def test_it_shows_the_registered_vms(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    tag = new_id("show")
    register(http, f"{tag}-a", role="lieutenant", services=[{"name": "api", "port": 8080}])
    register(http, f"{tag}-b", status="paused")
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.search(tag)
    a = tab.row(f"{tag}-a")
    assert a.locator("td.name").inner_text() == f"{tag}-a-name"
    assert a.locator("td.role").inner_text() == "lieutenant"
    assert a.locator("td.address").inner_text() == f"{tag}-a.vm.vers.sh"
    assert a.locator("td.services").inner_text() == "api:8080"
    assert a.locator("td.seen").inner_text().endswith("ago")
    assert tab.row(f"{tag}-b").locator("td.status").inner_text() == "paused"
    assert tab.shown_ids() == [f"{tag}-b", f"{tag}-a"]  # newest registration first
    # The styles loaded (the page's own policy lets them): a grid, not an unstyled list.
    assert tab.page.evaluate("getComputedStyle(document.querySelector('main')).display") == "grid"


def test_api_changes_appear_without_a_reload(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    vm_id = new_id("live")

    register(http, vm_id)
    row = tab.row(vm_id)
    row.and_(tab.page.locator(".mark-new")).wait_for()
    assert row.locator("td.status").inner_text() == "running"

    response = http.patch(f"/registry/vms/{vm_id}", json={"status": "paused", "name": "renamed"})
    assert response.status_code == 200, response.text
    row.and_(tab.page.locator(".mark-changed")).wait_for()
    assert row.locator("td.name").inner_text() == "renamed"
    assert row.locator("td.status").inner_text() == "paused"

    assert http.delete(f"/registry/vms/{vm_id}").status_code == 200
    row.locator(".badge.removed").wait_for()  # marked for a moment...
    row.wait_for(state="detached")  # ...then gone
    assert tab.not_reloaded()
    ticker = tab.page.locator(f'#events li[data-vm="{vm_id}"]')
    assert [t.split(".")[1] for t in ticker.evaluate_all("ls => ls.map(l => l.dataset.type)")] == [
        "deregistered",
        "updated",
        "registered",
    ]


def test_counts_and_filters(server: ServerProcess, http: httpx.Client, dashboard_for: Any) -> None:
    tag = new_id("filter")
    register(http, f"{tag}-w1", name="alpha-worker")
    register(http, f"{tag}-w2", status="stopped")
    register(http, f"{tag}-lt", role="lieutenant", services=[{"name": "grpc", "port": 9090}])
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    page = tab.page

    tab.search(tag)
    tab.rows_are(3)
    page.select_option("#filter-role", "lieutenant")
    tab.shows([f"{tag}-lt"])

    page.select_option("#filter-role", "")
    page.select_option("#filter-status", "stopped")
    tab.shows([f"{tag}-w2"])

    page.select_option("#filter-status", "")
    tab.search("grpc")  # services are searched too
    tab.shows([f"{tag}-lt"])
    tab.search("ALPHA-WORKER")  # case does not matter
    tab.shows([f"{tag}-w1"])

    # The counts are of the whole fleet, and a click on one filters by it.
    tab.search("")
    fleet = http.get("/registry/vms").json()["vms"]
    lieutenants = sum(1 for vm in fleet if vm["role"] == "lieutenant")
    chip = page.locator('#counts [data-count="lieutenant"]')
    assert chip.get_attribute("data-value") == str(lieutenants)
    assert page.locator('#counts [data-count="all"]').get_attribute("data-value") == str(len(fleet))
    chip.click()
    assert page.input_value("#filter-role") == "lieutenant"
    tab.rows_are(lieutenants)


def test_time_travel_shows_the_earlier_fleet(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    tag = new_id("travel")
    register(http, f"{tag}-a")
    before = register(http, f"{tag}-b")
    time.sleep(0.005)  # so that the next event has a later millisecond than b's
    register(http, f"{tag}-c")
    assert http.delete(f"/registry/vms/{tag}-a").status_code == 200
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.search(tag)
    tab.rows_are(2)

    # The moment b was registered: a and b existed, c did not yet, a had not left.
    moment = before["registeredAt"].removesuffix("Z")  # the tab's zone is UTC
    tab.page.fill("#travel-time", moment)
    tab.page.click("#travel-go")
    tab.page.wait_for_selector("#travel-live:not([hidden])")
    tab.shows([f"{tag}-b", f"{tag}-a"])
    assert "as of" in tab.page.inner_text("#travel-banner")

    # Live changes go on meanwhile, and show when we come back.
    register(http, f"{tag}-d")
    tab.page.locator(f'#events li[data-vm="{tag}-d"]').wait_for()
    assert tab.shown_ids() == [f"{tag}-b", f"{tag}-a"]
    tab.page.click("#travel-live")
    tab.shows([f"{tag}-d", f"{tag}-c", f"{tag}-b"])

    # A time the registry refuses is said, not hidden.
    tab.page.fill("#travel-time", "2999-01-01T00:00:00.000")
    tab.page.click("#travel-go")
    tab.page.wait_for_selector("#travel-banner:text('future')")

    # A click on an event in the ticker shows the fleet right after it.
    tab.page.click(f'#events li[data-vm="{tag}-d"]')
    tab.page.wait_for_selector("#travel-live:not([hidden])")
    assert "right after event" in tab.page.inner_text("#travel-banner")
    assert tab.shown_ids() == [f"{tag}-d", f"{tag}-c", f"{tag}-b"]


def test_a_click_on_a_row_opens_its_history(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    vm_id = new_id("hist")
    register(http, vm_id)
    assert http.post(f"/registry/vms/{vm_id}/heartbeat").status_code == 200
    assert http.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code == 200
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.row(vm_id).click()
    dialog = tab.page.locator("#history")
    dialog.locator("#history-rows tr").first.wait_for()
    assert dialog.locator("#history-vm").inner_text() == vm_id
    events = http.get(f"/registry/vms/{vm_id}/history").json()["events"]
    rows = dialog.locator("#history-rows tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.type)") == [
        e["type"] for e in reversed(events)
    ]
    # Heartbeats are in the list but hidden until asked for.
    assert not dialog.locator("tr[data-type='vm.heartbeat']").is_visible()
    dialog.locator("#history-heartbeats").check()
    assert dialog.locator("tr[data-type='vm.heartbeat']").is_visible()
    assert '"status":"paused"' in dialog.locator("tr[data-type='vm.updated'] td.data").inner_text()
    dialog.locator("#history-close").click()
    dialog.wait_for(state="hidden")

    # The keyboard opens it too.
    tab.row(vm_id).focus()
    tab.page.keyboard.press("Enter")
    dialog.locator("#history-rows tr").first.wait_for()

    # The ticker hides heartbeats until asked for them (this one, and the one it opened with).
    answer = http.post(f"/registry/vms/{vm_id}/heartbeat")
    assert answer.status_code == 200
    beat = tab.page.locator(f'#events li[data-seq="{answer.json()["revision"]}"]')
    beat.wait_for(state="attached")
    assert beat.get_attribute("data-type") == "vm.heartbeat"
    assert not beat.is_visible()
    tab.page.keyboard.press("Escape")
    tab.page.check("#show-heartbeats")
    assert beat.is_visible()


def test_service_health_is_shown(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    with running_services() as services:
        vm_id = new_id("health")
        checked = [
            {"name": "web", "port": services.port, "healthPath": "/ok"},
            {"name": "db", "port": services.port, "healthPath": "/fail"},
            {"name": "raw", "port": services.port},
        ]
        register(http, vm_id, address=services.host, services=checked)
        row = tab.row(vm_id)
        row.locator(".svc.critical").wait_for()
        row.locator(".svc.passing").wait_for()
        assert row.locator(".svc.critical").inner_text() == f"db:{services.port} ✗"
        assert row.locator(".svc.passing").inner_text() == f"web:{services.port}"
        assert row.locator(".svc.unchecked").inner_text() == f"raw:{services.port}"
        assert "critical" in (row.get_attribute("class") or "").split()
        tab.page.locator(f'#events li[data-vm="{vm_id}"][data-type="vm.health"]').first.wait_for()
        assert http.delete(f"/registry/vms/{vm_id}").status_code == 200


def test_a_snapshot_of_many_reads_arrives_whole(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    """A large fleet's snapshot is one line of SSE spread over many network reads."""
    tag = new_id("big")
    filler = {f"k{i:03}": "x" * 1000 for i in range(40)}  # ~40 KB of metadata each
    for n in range(20):
        register(http, f"{tag}-{n:02}", metadata={**filler, "needle": f"{tag}-needle-{n:02}"})
    tab = dashboard_for(server.url).open()
    tab.wait_live()
    tab.search(tag)
    tab.rows_are(20)
    tab.search(f"{tag}-needle-19")  # the end of the line made it too
    tab.shows([f"{tag}-19"])
