"""Where the client finds the registry, as the rest of the Vers ecosystem does.

`VERS_INFRA_URL` is the base URL and `VERS_AUTH_TOKEN` the bearer token; `VERS_VM_ID` and
`VERS_AGENT_ROLE` say who this VM is. An explicit argument (or command-line flag) always wins
over the environment.
"""

from __future__ import annotations

import os
from typing import Final

import httpx

from vm_registry.client.errors import RegistryError

# Where `make serve` listens, so a developer's first try needs no configuration.
DEFAULT_URL: Final = "http://127.0.0.1:3000"
DEFAULT_ROLE: Final = "worker"


def base_url(explicit: str | None = None) -> str:
    url = explicit or os.environ.get("VERS_INFRA_URL") or DEFAULT_URL
    if "://" not in url:
        # The skill's own examples sometimes give `host:port`; httpx needs a scheme.
        url = f"http://{url}"
    try:
        httpx.URL(url)
    except httpx.InvalidURL as error:  # was a traceback from inside httpx, not a RegistryError
        raise RegistryError(f"{url!r} is not a URL of the registry ({error})") from None
    return url.rstrip("/")


def token(explicit: str | None = None) -> str | None:
    if explicit is not None:
        return explicit or None
    return os.environ.get("VERS_AUTH_TOKEN") or None


def vm_id(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("VERS_VM_ID") or None


def role(explicit: str | None = None) -> str:
    return explicit or os.environ.get("VERS_AGENT_ROLE") or DEFAULT_ROLE
