"""What a newcomer sees first: at 1280 px with real (UUID) ids every column is on screen beside
the ticker, the ticker opens with the latest events, the empty fleet says how to register a VM,
and a registry that wants a token never claims to be empty behind its prompt."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import register

WIDE = {"width": 1280, "height": 800}
TOKEN = "first-contact-secret-0123"


server = server_fixture("ui-first")


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_at_1280_px_with_uuid_ids_every_column_is_beside_the_ticker(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for vm_id in ids:
        services = [{"name": "pi-rpc", "port": 3001}, {"name": "board", "port": 3000}]
        register(http, vm_id, name=f"billing-lieutenant-{vm_id[:8]}", services=services,
                 address=f"{vm_id}.vm.vers.sh")  # fmt: skip
    tab = dashboard_for(server.url)
    tab.page.set_viewport_size(WIDE)
    tab.open().wait_live()
    for vm_id in ids:
        tab.row(vm_id).wait_for()
    box = tab.page.evaluate(
        """() => {
          const rect = (el) => el.getBoundingClientRect().toJSON();
          const heads = [...document.querySelectorAll('#vms thead th')];
          return {
            table: rect(document.querySelector('#vms')),
            ticker: rect(document.querySelector('.ticker')),
            heads: Object.fromEntries(heads.map((th) => [th.textContent, rect(th)])),
            seen: rect(document.querySelector('#vms tbody td.seen')),
            age: rect(document.querySelector('#vms tbody td.age')),
            pageWidth: document.scrollingElement.scrollWidth,
            viewWidth: window.innerWidth,
          };
        }"""
    )
    ticker_left = box["ticker"]["left"]
    assert box["table"]["right"] <= ticker_left, box
    for name in ("ID", "Name", "Role", "Status", "Address", "Services", "Last seen", "Age"):
        head = box["heads"][name]
        assert head["width"] > 0 and head["right"] <= ticker_left, (name, box)
    for cell in (box["seen"], box["age"]):
        assert cell["left"] > 0 and cell["right"] <= ticker_left, box
    assert box["pageWidth"] <= box["viewWidth"], "the page scrolls sideways"
    # The id is shortened on screen, never lost: whole in its tooltip, found by the search.
    cell = tab.row(ids[0]).locator("td.id")
    assert cell.get_attribute("title") == ids[0]
    tab.search(ids[0][-12:])
    tab.shows([ids[0]])


def test_a_browser_given_the_bare_address_lands_on_the_dashboard(
    server: ServerProcess, dashboard_for: Any
) -> None:
    tab = dashboard_for(server.url)
    tab.page.goto(f"{server.url}/")
    assert tab.page.url == f"{server.url}/ui"
    tab.wait_live()


def test_the_ticker_opens_with_the_latest_events(
    server: ServerProcess, http: httpx.Client, dashboard_for: Any
) -> None:
    vm_id = str(uuid.uuid4())
    register(http, vm_id)
    for _ in range(230):
        assert http.post(f"/registry/vms/{vm_id}/heartbeat").status_code == 200
    assert http.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code == 200
    head = int(http.get("/health").json()["revision"])

    tab = dashboard_for(server.url).open()
    tab.wait_live()
    # Nothing happened since the page opened, and yet: the latest 200 events, newest first.
    tab.page.locator(f'#events li[data-seq="{head - 199}"]').wait_for(state="attached")
    assert tab.ticker_seqs() == list(range(head, head - 200, -1))
    latest = tab.page.locator("#events li[data-seq]").first
    assert latest.get_attribute("data-type") == "vm.updated"
    assert latest.is_visible()  # heartbeats are in the list, hidden until asked for
    # Live events go on top of them.
    assert http.post(f"/registry/vms/{vm_id}/heartbeat").status_code == 200
    tab.page.locator(f'#events li[data-seq="{head + 1}"]').wait_for(state="attached")
    assert tab.ticker_seqs()[:2] == [head + 1, head]
    assert len(tab.ticker_seqs()) == 200


def test_an_empty_registry_says_how_to_register_a_vm(tmp_path: Path, dashboard_for: Any) -> None:
    empty = ServerProcess(tmp_path / "registry.db").start()
    try:
        tab = dashboard_for(empty.url).open()
        tab.wait_live()
        note = tab.page.locator("#fleet-note")
        note.locator("code").first.wait_for()
        text = note.inner_text()
        assert text.startswith("No VMs registered yet.")
        assert f"curl -X POST {empty.url}/registry/vms" in text
        assert "vm-registry register --id" in text
        assert "vm-registry agent" in text
        with httpx.Client(base_url=empty.url, timeout=10) as http:
            register(http, "first-vm")
        tab.row("first-vm").wait_for()
        tab.page.wait_for_selector("#fleet-note:text-is('1 VM')")
    finally:
        empty.kill()


def test_behind_the_token_prompt_the_fleet_is_not_called_empty(
    tmp_path: Path, dashboard_for: Any
) -> None:
    guarded = ServerProcess(tmp_path / "registry.db", env={"VERS_AUTH_TOKEN": TOKEN}).start()
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=guarded.url, timeout=10, headers=headers) as http:
            register(http, "behind-the-prompt")
        tab = dashboard_for(guarded.url).open()
        page = tab.page
        page.wait_for_selector('#connection[data-state="unauthorized"]')
        page.wait_for_selector("#fleet-note:text-is('The fleet shows once a token is accepted.')")
        assert page.locator("#counts button").count() == 0  # no "all 0" either
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        tab.row("behind-the-prompt").wait_for()
        page.wait_for_selector("#fleet-note:text-is('1 VM')")
        # Forgetting the token forgets the fleet, and still does not call it empty.
        page.click("#forget-token")
        page.wait_for_selector('#connection[data-state="unauthorized"]')
        tab.rows_are(0)
        assert (
            page.locator("#fleet-note").inner_text() == "The fleet shows once a token is accepted."
        )
    finally:
        guarded.kill()
