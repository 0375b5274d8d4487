"""The dashboard in a real browser: Debian's Chromium, driven by Playwright.

Playwright never downloads a browser here: it launches the system's Chromium by its path
(`tests.support.requires.chromium()`, which skips with a reason on a machine without one, and
fails in CI). One browser serves the package's tests (`browser` says why not the session's);
every test gets a fresh context (its own profile: storage, cookies, cache), so nothing leaks
from one test into the next.

A page that throws is a failing test: every uncaught error in the page is collected and checked
when the test ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support import requires

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Generous: a shared two-core machine may be busy. No test asserts a duration.
WAIT_MS = 15_000


# Package scope, not session: while Playwright's sync API is open, its event loop stays marked
# as running in this thread (it runs in a greenlet and switches back to the test mid-loop), so
# any later test's `asyncio.run()` fails with "cannot be called from a running event loop".
# pytest tears the package's fixtures down before it runs a test outside `tests/ui`, whatever
# the order; the UI modules, run together as by default, still share one browser.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = requires.chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        requires.missing("Playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile, removed on close.
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


class Dashboard:
    """A tab on a registry's /ui, with what the tests look at."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda r: self.requests.append((r.url, r.headers)))
        page.set_default_timeout(WAIT_MS)

    def open(self) -> Dashboard:
        self.page.goto(f"{self.base_url}/ui")
        # A mark that a reload would wipe: tests check that updates never needed one.
        self.page.evaluate("window.loadedOnce = true")
        return self

    def not_reloaded(self) -> bool:
        return bool(self.page.evaluate("window.loadedOnce === true"))

    def row(self, vm_id: str) -> Any:
        return self.page.locator(f'#vms tbody tr[data-id="{vm_id}"]')

    def wait_live(self) -> None:
        self.page.wait_for_selector('#connection[data-state="live"]')

    def rows_are(self, count: int) -> None:
        """Waits until the table shows that many rows. (Not `wait_for_function`: the page's
        content security policy forbids the string evaluation it relies on.)"""
        from playwright.sync_api import expect

        expect(self.page.locator("#vms tbody tr")).to_have_count(count, timeout=WAIT_MS)

    def shows(self, ids: list[str]) -> None:
        """Waits until the table shows exactly these rows, in this order."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while (shown := self.shown_ids()) != ids:
            assert time.monotonic() < deadline, f"the table shows {shown}, not {ids}"
            self.page.wait_for_timeout(50)

    def shown_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#vms tbody tr", "rows => rows.map(r => r.dataset.id)"
        )
        return ids

    def ticker_seqs(self) -> list[int]:
        seqs: list[str] = self.page.eval_on_selector_all(
            "#events li[data-seq]", "items => items.map(i => i.dataset.seq)"
        )
        return [int(s) for s in seqs]

    def search(self, text: str) -> None:
        self.page.fill("#filter-text", text)


@pytest.fixture
def dashboard_for(browser: Browser) -> Iterator[Any]:
    """`dashboard_for(url)` opens a fresh tab (in a fresh context) on that registry."""
    opened: list[Dashboard] = []

    def open_tab(base_url: str) -> Dashboard:
        context = browser.new_context(timezone_id="UTC", locale="en-GB")
        tab = Dashboard(context.new_page(), base_url)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.page.context.close()
    for tab in opened:
        assert tab.errors == [], f"the page threw: {tab.errors}"


def new_id(prefix: str = "vm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def register(http: httpx.Client, vm_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": vm_id,
        "name": f"{vm_id}-name",
        "role": "worker",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
        **fields,
    }
    response = http.post("/registry/vms", json=body)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry
