"""`GET /ui`: the live fleet dashboard, as static files shipped inside the package.

The page is plain HTML, CSS and JavaScript modules: nothing to build at install time, nothing
loaded from the internet. It holds no data of its own. Everything it shows comes from the API
(`/registry/stream`, `/registry/vms`, the history routes) with the token the operator types in,
so the files themselves are served without authentication: a browser cannot attach a bearer
token to a page navigation, and the files reveal nothing a reader of the source could not know.

The files are read once, on first use, from `vm_registry/api/ui/`. Only names found there are
served; anything else is a JSON 404 like any unknown route.

`GET /` is where a browser lands when given the registry's bare address: one that accepts HTML
is sent on to `/ui` (`text/html` named with a weight above 0, and not below `application/json`'s:
`text/html;q=0` refuses HTML, and a client that prefers JSON gets it). Any other client (curl,
an agent's HTTP library) gets a JSON index of where things are, rather than a redirect to a
page it cannot use or a 404 that says nothing.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson
from litestar import Request, Response, get
from litestar.response import Redirect

from vm_registry.api.openapi import OPEN
from vm_registry.domain.errors import NotFound

# litestar adds "; charset=utf-8" to text types.
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
}

# The API's own policy forbids everything; the page needs its own scripts, styles and calls to
# its own origin, and nothing else: no inline script, no third party, no framing.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def _files() -> dict[str, bytes]:
    folder = resources.files("vm_registry.api") / "ui"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and any(item.name.endswith(ext) for ext in CONTENT_TYPES)
    }


def _serve(name: str) -> Response[bytes]:
    body = _files().get(name)
    if body is None:
        raise NotFound(f"the dashboard has no file {name!r}")
    content_type = CONTENT_TYPES[name[name.rindex(".") :]]
    return Response(
        content=body,
        media_type=content_type,
        headers={
            "Content-Security-Policy": PAGE_POLICY,
            # Revalidate every time: an upgraded server must never run yesterday's script.
            "Cache-Control": "no-cache",
        },
    )


# What `GET /` tells a client that is not a browser: the entry points, nothing about the fleet.
INDEX = orjson.dumps(
    {
        "service": "vm-registry",
        "dashboard": "/ui",
        "vms": "/registry/vms",
        "discover": "/registry/discover/{role}",
        "feed": "/registry/stream",
        "events": "/registry/events",
        "health": "/health",
        "schema": "/schema",
    }
)


@get("/", security=OPEN, include_in_schema=False)
async def landing(request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
    # The answer depends on Accept, so a cache must keep the two apart.
    vary = {"Vary": "Accept"}
    if wants_html(request.headers.get("accept", "")):
        return Redirect("/ui", status_code=302, headers=vary)
    return Response(INDEX, media_type="application/json", headers=vary)


def wants_html(accept: str) -> bool:
    weights = {"text/html": 0.0, "application/json": 0.0}
    for media_range in accept.split(","):
        kind, *parameters = media_range.split(";")
        kind = kind.strip().lower()
        if kind not in weights:
            continue
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)  # nan compares false: 0.0
                except ValueError:
                    weight = 0.0  # a weight that is not one: the range is not accepted
        weights[kind] = max(weights[kind], weight)
    return weights["text/html"] > 0 and weights["text/html"] >= weights["application/json"]


@get("/ui", security=OPEN, include_in_schema=False)
async def page() -> Response[bytes]:
    return _serve("index.html")


@get("/ui/{name:str}", security=OPEN, include_in_schema=False)
async def asset(name: str) -> Response[bytes]:
    return _serve(name)


ROUTES = [landing, page, asset]
