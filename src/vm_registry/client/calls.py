"""Each API call as a value: what to send, and how to read the answer.

Building requests and reading responses is pure, so the sync and the async client share all of
it and differ only in how they move bytes. Reading an error response always yields a typed
`RegistryError` with the server's own message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from vm_registry.client.errors import ProtocolError, for_status
from vm_registry.client.models import (
    Entry,
    Event,
    Heartbeat,
    JsonObject,
    Listing,
    Registration,
)
from vm_registry.client.vocabulary import format_time, present

T = TypeVar("T")

REVISION_HEADER = "X-Registry-Revision"
MIN_REVISION_HEADER = "X-Registry-Min-Revision"

Params = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any, httpx.Headers], T]
    params: Params = field(default_factory=dict)
    body: JsonObject | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A 404 read as an answer rather than an error (a blocking read of a VM not there yet).
    on_missing: Callable[[httpx.Headers], T] | None = None
    timeout: float | None = None  # seconds to wait for the answer, when not the client's own
    # A read of the projection that should reflect this client's own last write.
    reads_writes: bool = False

    def content(self) -> bytes | None:
        return None if self.body is None else orjson.dumps(self.body)

    def result(self, response: httpx.Response) -> T:
        if response.status_code == 404 and self.on_missing is not None:
            return self.on_missing(response.headers)
        body = decode(response)
        if response.is_error:
            raise for_status(response.status_code, body, _fallback(response))
        if body is None:
            raise ProtocolError(
                f"{self.method} {self.path} answered {response.status_code} without a JSON body",
                response.status_code,
            )
        try:
            return self.read(body, response.headers)
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(
                f"{self.method} {self.path} answered a body this client cannot read: {e!r}",
                response.status_code,
            ) from e


def decode(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _fallback(response: httpx.Response) -> str:
    text = response.text.strip()[:200]
    return text or f"HTTP {response.status_code} {response.reason_phrase}".strip()


def segment(value: str) -> str:
    return quote(value, safe="")


def revision_of(headers: httpx.Headers) -> int | None:
    raw = headers.get(REVISION_HEADER)
    return int(raw) if raw is not None and raw.isdigit() else None


def blocking_params(index: int | None, hold: float | None) -> Params:
    """`?index=N&wait=...`: hold the read until the answer changes after revision N."""
    if index is None:
        return {}
    params: Params = {"index": index}
    if hold is not None:
        params["wait"] = f"{max(int(hold * 1000), 1)}ms"
    return params


def held(call: Call[T], hold: float | None, margin: float = 10.0) -> Call[T]:
    """The call, with a read timeout long enough for the server to hold it `hold` seconds."""
    if hold is None:
        return call
    return replace(call, timeout=hold + margin)


def _listing(body: Any, headers: httpx.Headers) -> Listing:
    return Listing(tuple(Entry.from_wire(v) for v in body["vms"]), revision_of(headers))


def _entry(body: Any, _: httpx.Headers) -> Entry:
    return Entry.from_wire(body)


def _events(body: Any, _: httpx.Headers) -> list[Event]:
    return [Event.from_wire(e) for e in body["events"]]


def _nothing(_: Any, __: httpx.Headers) -> None:
    return None


def _if_match(revision: int | None) -> dict[str, str]:
    # Optimistic concurrency: the server refuses (412) if the entry changed since `revision`.
    return {} if revision is None else {"If-Match": f'"{revision}"'}


def _time(value: datetime | str) -> str:
    return format_time(value) if isinstance(value, datetime) else value


def register(registration: Registration) -> Call[Entry]:
    return Call("POST", "/registry/vms", _entry, body=registration.to_wire())


def list_vms(
    role: str | None = None, status: str | None = None, selector: str | None = None
) -> Call[Listing]:
    params: Params = present(role=role, status=status, selector=selector or None)
    return Call("GET", "/registry/vms", _listing, params=params, reads_writes=True)


def get(vm_id: str) -> Call[Entry]:
    return Call("GET", f"/registry/vms/{segment(vm_id)}", _entry, reads_writes=True)


def update(vm_id: str, changes: JsonObject, if_revision: int | None = None) -> Call[Entry]:
    """A PATCH of `changes` (`models.optional_fields`)."""
    path = f"/registry/vms/{segment(vm_id)}"
    return Call("PATCH", path, _entry, body=changes, headers=_if_match(if_revision))


def deregister(vm_id: str, if_revision: int | None = None) -> Call[None]:
    return Call(
        "DELETE", f"/registry/vms/{segment(vm_id)}", _nothing, headers=_if_match(if_revision)
    )


def heartbeat(vm_id: str) -> Call[Heartbeat]:
    return Call(
        "POST",
        f"/registry/vms/{segment(vm_id)}/heartbeat",
        lambda body, _: Heartbeat.from_wire(body),
    )


def discover(
    role: str,
    healthy: bool = False,
    index: int | None = None,
    hold: float | None = None,
    selector: str | None = None,
) -> Call[Listing]:
    params: Params = {"healthy": "true"} if healthy else {}
    if selector:
        params["selector"] = selector
    params.update(blocking_params(index, hold))
    path = f"/registry/discover/{segment(role)}"
    return Call("GET", path, _listing, params=params, reads_writes=True)


def events(
    *,
    after: int | None = None,
    limit: int | None = None,
    vm: str | None = None,
    type: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
) -> Call[list[Event]]:
    params: Params = present(
        after=after,
        limit=limit,
        vm=vm,
        type=type,
        since=None if since is None else _time(since),
        until=None if until is None else _time(until),
    )
    return Call("GET", "/registry/events", _events, params=params, reads_writes=True)


def history(vm_id: str, after: int | None = None) -> Call[list[Event]]:
    """One page of the VM's history after `after`: a page ends at 4 MiB of event data, so the
    clients call this with the last seq of each page until a page comes back empty."""
    path = f"/registry/vms/{segment(vm_id)}/history"
    return Call("GET", path, _events, params=present(after=after))


def health() -> Call[JsonObject]:
    return Call("GET", "/health", lambda body, _: dict(body))
