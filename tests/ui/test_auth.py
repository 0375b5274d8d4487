"""The dashboard on a registry with authentication on: the page's own files are public (they
hold no data), the page asks for a token, keeps it for the tab's session only, and never puts it
in a URL."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.ui.conftest import new_id, register

TOKEN = "dashboard-secret-0123456789"
READER = "reader-secret-0123456789"


server = server_fixture(
    "ui-auth", env={"VERS_AUTH_TOKEN": TOKEN, "VM_REGISTRY_TOKENS": f"dashboard:read:{READER}"}
)


http = http_fixture(token=TOKEN)


def test_the_page_files_are_served_without_a_token(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    for name, kind in [("app.js", "text/javascript"), ("app.css", "text/css")]:
        asset = httpx.get(f"{server.url}/ui/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
    # ...while the data still needs one.
    assert httpx.get(f"{server.url}/registry/vms").status_code == 401
    assert httpx.get(f"{server.url}/registry/stream").status_code == 401


@pytest.mark.parametrize("name", ["nope.js", "..%2F__init__.py", "routes", "%2e%2e", "ui.py"])
def test_only_the_page_files_are_served(server: ServerProcess, name: str) -> None:
    answer = httpx.get(f"{server.url}/ui/{name}")
    assert answer.status_code == 404
    assert set(answer.json()) == {"error"}


def test_the_page_loads_nothing_from_elsewhere() -> None:
    folder = resources.files("vm_registry.api") / "ui"
    files = {f.name: f.read_text() for f in folder.iterdir() if f.name != "__pycache__"}
    for name, text in files.items():
        assert "://" not in text.replace("data:,", ""), f"{name} refers to another origin"
    # Every module the page imports is one of its own files.
    imported = set(re.findall(r'from "\./([\w.]+)"', "".join(files.values())))
    assert imported and imported <= set(files)
    # The page never puts the token into a URL or into lasting storage.
    assert "localStorage" not in "".join(files.values())


def test_the_token_flow(server: ServerProcess, http: httpx.Client, dashboard_for: Any) -> None:
    vm_id = new_id("authed")
    register(http, vm_id)
    tab = dashboard_for(server.url).open()
    page = tab.page
    page.wait_for_selector('#connection[data-state="unauthorized"]')
    assert page.is_visible("#login")

    page.fill("#token-input", "wrong-token-value")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#login-error:text('invalid bearer token')")

    page.fill("#token-input", READER)  # a read token is enough for everything the page does
    page.click("#token-form button[type=submit]")
    tab.wait_live()
    tab.row(vm_id).wait_for()
    assert not page.is_visible("#login")
    assert page.evaluate("sessionStorage.getItem('vm-registry.token')") == READER
    assert page.evaluate("localStorage.length") == 0

    # Live changes, history and time travel all carry the token.
    other = new_id("authed")
    register(http, other)
    tab.row(other).wait_for()
    tab.row(vm_id).click()
    page.locator("#history-rows tr").first.wait_for()
    page.click("#history-close")
    page.click(f'#events li[data-vm="{other}"]')
    page.wait_for_selector("#travel-live:not([hidden])")

    # A reload of the tab keeps the token; a new session asks again.
    page.reload()
    tab.wait_live()
    assert not page.is_visible("#login")
    fresh = dashboard_for(server.url).open()
    fresh.page.wait_for_selector('#connection[data-state="unauthorized"]')

    # The token went only into Authorization headers, never into a URL.
    stream_calls = [h for url, h in tab.requests if "/registry/stream" in url]
    assert stream_calls and stream_calls[-1].get("authorization") == f"Bearer {READER}"
    assert all(READER not in url and TOKEN not in url for url, _ in tab.requests)
    assert READER not in server.output()

    # "Forget token" clears it, and what it let the tab see, and asks again.
    page.click("#forget-token")
    page.wait_for_selector('#connection[data-state="unauthorized"]')
    assert page.evaluate("sessionStorage.length") == 0
    tab.rows_are(0)
    assert page.locator("#events li").count() == 0


def test_every_page_file_is_package_data() -> None:
    """An installed (not editable) package must carry the page: pyproject.toml's package-data
    globs cover every file the route serves."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["vm_registry.api"]
    folder = root / "src" / "vm_registry" / "api" / "ui"
    files = [f"ui/{f.name}" for f in folder.iterdir() if f.is_file()]
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in globs), name
