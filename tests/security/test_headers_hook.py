"""`api.headers.before_send`, the hook that puts the security headers on every response the app
sends, including the router's own 404 and 405 that route middleware never sees, in isolation.
(test_defaults.py checks the same on the real server.)"""

from __future__ import annotations

from litestar import Litestar, get
from litestar.testing import TestClient

from vm_registry.api.headers import SECURITY_HEADERS, before_send


@get("/thing")
async def thing() -> dict[str, str]:
    return {"ok": "yes"}


def test_the_hook_covers_routes_and_the_routers_own_answers() -> None:
    app = Litestar([thing], before_send=[before_send], logging_config=None)
    with TestClient(app) as client:
        for answer in (client.get("/thing"), client.get("/nowhere"), client.put("/thing")):
            assert answer.status_code in (200, 404, 405)
            for name, value in SECURITY_HEADERS:
                assert answer.headers[name.decode()] == value.decode()
            assert answer.headers["cache-control"] == "no-store"


def test_the_hook_keeps_headers_a_response_set_itself() -> None:
    @get("/cached")
    async def cached() -> dict[str, str]:
        return {}

    app = Litestar(
        [cached],
        before_send=[before_send],
        logging_config=None,
        response_headers={"Cache-Control": "max-age=5"},
    )
    with TestClient(app) as client:
        assert client.get("/cached").headers["cache-control"] == "max-age=5"
