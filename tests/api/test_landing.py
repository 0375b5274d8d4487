"""`GET /`: a browser is sent on to the dashboard; any other client gets a JSON index of the
entry points (not a 404 that says nothing). Open with auth on: it holds nothing of the fleet."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import ServerProcess

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_is_sent_on_to_the_dashboard(http: httpx.Client) -> None:
    answer = http.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 302
    assert answer.headers["location"] == "/ui"
    assert answer.headers["vary"] == "Accept"


def test_any_other_client_gets_the_entry_points_as_json(http: httpx.Client) -> None:
    for accept in ("*/*", "application/json", None):
        answer = http.get("/", headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["vary"] == "Accept"
        index = answer.json()
        assert index["dashboard"] == "/ui"
        assert index["vms"] == "/registry/vms"
        for path in (index["health"], index["schema"], index["vms"], index["events"]):
            assert http.get(path).status_code == 200, path


def test_a_client_that_refuses_html_or_prefers_json_gets_the_index(http: httpx.Client) -> None:
    """`text/html;q=0` says HTML is not acceptable, and `application/json, text/html;q=0.1`
    that JSON is preferred: both were sent to the HTML page because the header named it."""
    for accept in ("text/html;q=0", "application/json, text/html;q=0.1", "text/html;q=x"):
        answer = http.get("/", headers={"Accept": accept})
        assert answer.status_code == 200, accept
        assert answer.json()["dashboard"] == "/ui"
    weighted = http.get("/", headers={"Accept": "application/json;q=0.5, TEXT/HTML;q=0.9"})
    assert weighted.status_code == 302


def test_with_auth_on_the_landing_is_open_and_the_fleet_is_not(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    server = ServerProcess(db, env={"VERS_AUTH_TOKEN": "landing-secret-42"}).start()
    try:
        assert httpx.get(f"{server.url}/").json()["dashboard"] == "/ui"
        sent = httpx.get(f"{server.url}/", headers={"Accept": BROWSER_ACCEPT})
        assert sent.status_code == 302
        assert httpx.get(f"{server.url}/registry/vms").status_code == 401
    finally:
        server.kill()
