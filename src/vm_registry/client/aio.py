"""The asyncio client. The blocking `RegistryClient` (`sync.py`) is generated from this file by
`python -m ops.unasync`: edit this one, then regenerate (`make lint` fails on a stale copy)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar

import httpx

from vm_registry.client import calls, waiting
from vm_registry.client.base import DEFAULT_TIMEOUT, ClientBase
from vm_registry.client.errors import RegistryError
from vm_registry.client.models import (
    Entry,
    Event,
    Heartbeat,
    JsonObject,
    Listing,
    Registration,
    ServiceLike,
    WatchItem,
    optional_fields,
)
from vm_registry.client.watch import MAX_DELAY, READ_TIMEOUT, Cursor, WatchQuery
from vm_registry.client.watch_aio import watch_async

T = TypeVar("T")


class AsyncRegistryClient(ClientBase):
    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, call: calls.Call[T]) -> T:
        headers = self._headers(call)
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                call.method,
                call.path,
                params=call.params or None,
                content=call.content(),
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if call.timeout is None else call.timeout,
            )
        except httpx.TransportError as e:
            raise self._unreachable(e) from e
        result = call.result(response)
        self._remember(call, response)
        return result

    async def register(
        self,
        id: str,
        name: str,
        role: str,
        address: str,
        registered_by: str,
        *,
        status: str | None = None,
        services: Sequence[ServiceLike] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Entry:
        registration = Registration(
            id, name, role, address, registered_by, status, services, metadata
        )
        return await self.register_from(registration)

    async def register_from(self, registration: Registration) -> Entry:
        entry = await self._send(calls.register(registration))
        self._registrations[entry.id] = registration
        return entry

    async def list(
        self, role: str | None = None, status: str | None = None, selector: str | None = None
    ) -> Listing:
        """Newest registration first; `selector` is a label selector over the metadata, such
        as `"task=billing,!spot"` (docs/feed.md, Selectors)."""
        return await self._send(calls.list_vms(role, status, selector))

    async def get(self, id: str) -> Entry:
        return await self._send(calls.get(id))

    async def update(
        self,
        id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        address: str | None = None,
        services: Sequence[ServiceLike] | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_revision: int | None = None,
    ) -> Entry:
        changes = optional_fields(status, services, metadata, name=name, address=address)
        return await self._send(calls.update(id, changes, if_revision))

    async def deregister(self, id: str, *, if_revision: int | None = None) -> None:
        await self._send(calls.deregister(id, if_revision))

    async def heartbeat(self, id: str) -> Heartbeat:
        return await self._send(calls.heartbeat(id))

    async def wait_for_vm(
        self,
        id: str,
        condition: Callable[[Entry], bool] | None = None,
        *,
        selector: str | None = None,
        timeout: float = 60.0,
    ) -> Entry:
        """Until VM `id` is running and not stale (or `condition(entry)` holds), and with
        `selector` its metadata matches it too, on blocking reads; `WaitTimeout` after
        `timeout` seconds, `Invalid` at once for a malformed selector. docs/health.md."""
        found = await self._wait(waiting.for_vm(id, condition, timeout, selector))
        assert found.entry is not None
        return found.entry

    async def wait_for_role(
        self,
        role: str,
        count: int = 1,
        *,
        healthy: bool = False,
        selector: str | None = None,
        timeout: float = 60.0,
    ) -> Listing:
        """Until `discover(role, selector=...)` shows at least `count` VMs; `WaitTimeout`
        after `timeout`."""
        return await self._wait(waiting.for_role(role, count, healthy, timeout, selector))

    async def _wait(self, wait: waiting.Wait[T]) -> T:
        while True:
            try:
                answer = await self._send(wait.next_call())
            except RegistryError as error:
                await asyncio.sleep(wait.pause_after(error))
                continue
            if wait.done(answer):
                return answer

    async def discover(
        self, role: str, *, healthy: bool = False, selector: str | None = None
    ) -> Listing:
        """Running, not stale; with `healthy`, also no critical service (docs/health.md); with
        `selector`, only VMs whose metadata matches it."""
        return await self._send(calls.discover(role, healthy, selector=selector))

    async def events(
        self,
        *,
        after: int | None = None,
        limit: int | None = None,
        vm: str | None = None,
        type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> builtins.list[Event]:
        call = calls.events(after=after, limit=limit, vm=vm, type=type, since=since, until=until)
        return await self._send(call)

    async def history(self, id: str) -> builtins.list[Event]:
        """Every event of `id`, oldest first, read a page at a time until an empty page."""
        events: builtins.list[Event] = []
        while page := await self._send(calls.history(id, events[-1].seq if events else None)):
            events += page
        return events

    async def health(self) -> JsonObject:
        return await self._send(calls.health())

    def watch(
        self,
        *,
        role: str | None = None,
        vm: str | None = None,
        types: Sequence[str] | None = None,
        selector: str | None = None,
        after: int | None = None,
        snapshot: bool = False,
        max_delay: float = MAX_DELAY,
        read_timeout: float | None = READ_TIMEOUT,
    ) -> AsyncGenerator[WatchItem, None]:
        """Every change from `after` (or from now), for ever, across reconnects.

        With `snapshot=True` (and no `after`) the first item is a `Snapshot` of the (filtered)
        fleet, then the events that follow it; after a 410 another `Snapshot` replaces it.
        Close the iterator (or leave a `for` loop) to stop watching.

        With `selector`, the events of VMs in that set: one that leaves it by a change of its
        metadata comes as an `Event` with `left=True` (docs/feed.md, Selectors).
        """
        query = WatchQuery(role, vm, types, snapshot, selector)
        cursor = Cursor(query, after, max_delay, self.last_write_revision)
        return watch_async(self._http, cursor, read_timeout)
