"""Bearer auth on every route but /health: the stream and the history included.

The routes come from the app's routes package, so a route added later is covered without
editing this file. (`/schema/*`, the OpenAPI document and its viewers, is public on purpose:
see auth.py. So are the dashboard's static files at `/ui`, which hold no data: tests/ui, and
`/`, which only points elsewhere: tests/api/test_landing.py.)
"""

from __future__ import annotations

import base64
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import ADMIN_SECRET, SECRETS, bearer
from tests.support.server import ServerProcess
from vm_registry.api import routes

PUBLIC = ("/health", "/schema", "/ui")
EXAMPLES = {"{vm_id:str}": "vm-auth", "{role:str}": "worker"}


def _handlers() -> Iterator[Any]:
    # Every `ROUTES` list in the routes package is what create_app mounts. Building the app
    # itself here would install litestar's logging configuration into the test process.
    for module in pkgutil.iter_modules(routes.__path__):
        yield from importlib.import_module(f"{routes.__name__}.{module.name}").ROUTES


def _routes() -> list[tuple[str, str]]:
    found = []
    for handler in _handlers():
        for template in handler.paths:
            if template.startswith(PUBLIC) or template == "/":
                continue
            path = template
            for placeholder, example in EXAMPLES.items():
                path = path.replace(placeholder, example)
            assert "{" not in path, f"no example value for {template}"
            methods = sorted(getattr(handler, "http_methods", set()) - {"OPTIONS", "HEAD"})
            found.extend((method, path) for method in methods or ["GET"])
    return found


ROUTES = _routes()


@pytest.fixture
def http(guarded: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        yield client


def call(http: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    # Streams answer with headers first; the status is all this needs.
    with http.stream(method, path, headers=headers) as response:
        return response.status_code


def test_the_route_table_is_covered() -> None:
    paths = {path for _, path in ROUTES}
    assert {"/registry/stream", "/registry/events", "/registry/vms/vm-auth/history"} <= paths
    assert len(ROUTES) >= 10


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_but_health_needs_a_bearer_token(
    http: httpx.Client, method: str, path: str
) -> None:
    refused = http.request(method, path)
    assert refused.status_code == 401, refused.text
    assert set(refused.json()) == {"error"}
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert call(http, method, path, bearer("admin")) != 401


def test_health_is_open(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "ok"


PRESENTED = {
    "no scheme": ADMIN_SECRET,
    "basic": "Basic " + base64.b64encode(f"admin:{ADMIN_SECRET}".encode()).decode(),
    "other scheme": f"Token {ADMIN_SECRET}",
    "empty bearer": "Bearer",
    "prefix": f"Bearer {ADMIN_SECRET[:-1]}",
    "extended": f"Bearer {ADMIN_SECRET}0",
    "case changed": f"Bearer {ADMIN_SECRET.upper()}",
    "two tokens": f"Bearer {ADMIN_SECRET} {SECRETS['root']}",
    "non-ascii": "Bearer s\u00e9cret-\u00e9\u00e9\u00e9\u00e9",
}


@pytest.mark.parametrize("presented", PRESENTED.values(), ids=PRESENTED.keys())
def test_anything_but_a_configured_token_is_refused(http: httpx.Client, presented: str) -> None:
    answer = http.get("/registry/vms", headers={"Authorization": presented.encode()})
    assert answer.status_code == 401, answer.text
    assert set(answer.json()) == {"error"}


def test_the_scheme_is_case_insensitive_and_extra_spaces_are_ignored(http: httpx.Client) -> None:
    for header in (f"bearer {ADMIN_SECRET}", f"BEARER {ADMIN_SECRET}", f"Bearer  {ADMIN_SECRET}"):
        assert http.get("/registry/vms", headers={"Authorization": header}).status_code == 200


def test_every_configured_token_is_accepted(http: httpx.Client) -> None:
    for name in ("admin", *SECRETS):
        assert http.get("/registry/vms", headers=bearer(name)).status_code == 200, name
