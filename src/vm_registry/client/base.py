"""What the sync and the async client have in common: configuration and memory."""

from __future__ import annotations

from typing import Any

import httpx

from vm_registry.client import config
from vm_registry.client.calls import MIN_REVISION_HEADER, Call, revision_of
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
        # The log revision of this client's last write. Reads ask for at least that revision,
        # so behind a load balancer over several replicas the client still reads its writes.
        self.last_write_revision: int | None = None

    def _http_options(self) -> dict[str, Any]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return {"base_url": self.base_url, "headers": headers, "timeout": self._timeout}

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        headers = dict(call.headers)
        if call.reads_writes and self.last_write_revision is not None:
            headers[MIN_REVISION_HEADER] = str(self.last_write_revision)
        return headers

    def _remember(self, call: Call[Any], response: httpx.Response) -> None:
        if call.method == "GET":
            return
        revision = revision_of(response.headers)
        if revision is not None and revision > (self.last_write_revision or 0):
            self.last_write_revision = revision

    def _unreachable(self, error: httpx.TransportError) -> Unreachable:
        detail = str(error) or type(error).__name__
        return Unreachable(f"cannot reach the registry at {self.base_url}: {detail}")

    def last_registration(self, vm_id: str) -> Registration | None:
        return self._registrations.get(vm_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"
