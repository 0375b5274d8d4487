"""What the sync and the async client have in common: configuration and memory."""

from __future__ import annotations

from typing import Any

import httpx

from vm_registry.client import config
from vm_registry.client.errors import Unreachable
from vm_registry.client.models import Registration

USER_AGENT = "vm-registry-client/0.1"
DEFAULT_TIMEOUT = 10.0


class ClientBase:
    def __init__(
        self, base_url: str | None = None, token: str | None = None, *, timeout: float
    ) -> None:
        self.base_url = config.base_url(base_url)
        self._token = config.token(token)
        self._timeout = timeout
        # The last successful registration of each id, so that a Heartbeater can register an
        # entry again, exactly as it was, if the registry lost or deleted it.
        self._registrations: dict[str, Registration] = {}

    def _http_options(self) -> dict[str, Any]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return {"base_url": self.base_url, "headers": headers, "timeout": self._timeout}

    def _unreachable(self, error: httpx.TransportError) -> Unreachable:
        detail = str(error) or type(error).__name__
        return Unreachable(f"cannot reach the registry at {self.base_url}: {detail}")

    def last_registration(self, vm_id: str) -> Registration | None:
        return self._registrations.get(vm_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"
