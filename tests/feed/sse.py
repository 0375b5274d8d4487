"""A real SSE client for the feed tests: httpx-sse reading one stream in a background task.

Every wait is bounded, so a test that does not get what it expects fails with what it got
instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.conftest import vm

STREAM = "/registry/stream"


@dataclass(frozen=True)
class Message:
    id: int | None
    event: str
    data: Any
    retry: int | None


def _message(sse: ServerSentEvent) -> Message:
    # httpx-sse repeats the last id on messages without one, as EventSource does.
    return Message(
        int(sse.id) if sse.id else None,
        sse.event,
        json.loads(sse.data) if sse.data else None,
        sse.retry,
    )


class Watch:
    """One open stream. `messages` grows as the server sends; `close()` hangs up."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.messages: list[Message] = []
        self.response: httpx.Response | None = None
        self.ended: BaseException | None = None  # why the stream ended, if it did
        self.finished = False
        self._open = asyncio.Event()
        # Cleared, the client stops reading its socket, like a consumer stuck on other work.
        self.reading = asyncio.Event()
        self.reading.set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, timeout: float = 10) -> Watch:
        self._task = asyncio.create_task(self._read())
        async with asyncio.timeout(timeout):
            await self._open.wait()
        if self.ended is not None:
            raise self.ended
        return self

    async def _read(self) -> None:
        try:
            async with aconnect_sse(
                self.client, "GET", STREAM, params=self.params, headers=self.headers
            ) as source:
                self.response = source.response
                # The server subscribes before it sends the headers: from here on, nothing
                # committed can be missed.
                self._open.set()
                async for sse in source.aiter_sse():
                    if sse.data or sse.retry is not None:
                        # httpx-sse turns each keepalive comment into an empty message.
                        self.messages.append(_message(sse))
                    await self.reading.wait()
        except Exception as error:
            self.ended = error
        finally:
            self.finished = True
            self._open.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def events(self) -> list[Message]:
        """Registry events only: no retry hint, snapshot or bookmark."""
        return [m for m in self.messages if m.event.startswith("vm.")]

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.events if m.id is not None]

    @property
    def last_id(self) -> int | None:
        """What EventSource would send as Last-Event-ID (bookmarks and snapshots included)."""
        ids = [m.id for m in self.messages if m.id is not None]
        return ids[-1] if ids else None

    async def until(
        self, done: Callable[[Watch], bool], timeout: float = 10, what: str = "condition"
    ) -> Watch:
        deadline = time.monotonic() + timeout
        while not done(self):
            if self.finished:
                raise AssertionError(f"stream ended ({self.ended!r}) before {what}: {self.seen}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; got {self.seen}")
            await asyncio.sleep(0.01)
        return self

    async def until_id(self, seq: int, timeout: float = 10) -> Watch:
        return await self.until(
            lambda w: w.last_id is not None and w.last_id >= seq, timeout, f"id {seq}"
        )

    async def until_events(self, count: int, timeout: float = 10) -> list[Message]:
        await self.until(lambda w: len(w.events) >= count, timeout, f"{count} events")
        return self.events

    @property
    def seen(self) -> list[tuple[int | None, str]]:
        return [(m.id, m.event) for m in self.messages]


async def refusal(
    client: httpx.AsyncClient,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """GET the stream expecting a JSON error; a stream that opens instead fails the test."""
    async with client.stream("GET", STREAM, params=params, headers=headers) as response:
        assert response.headers["content-type"] == "application/json", response.status_code
        async with asyncio.timeout(10):
            await response.aread()
    return response


async def head(client: httpx.AsyncClient) -> int:
    response = await client.get("/health")
    revision: int = response.json()["revision"]
    return revision


async def subscribers(client: httpx.AsyncClient) -> int:
    count: int = (await client.get("/health")).json()["subscribers"]
    return count


async def register(client: httpx.AsyncClient, vm_id: str, **overrides: object) -> int:
    response = await client.post("/registry/vms", json=vm(vm_id, **overrides))
    assert response.status_code == 201, response.text
    revision: int = response.json()["revision"]
    return revision


async def beat(client: httpx.AsyncClient, vm_id: str) -> int:
    response = await client.post(f"/registry/vms/{vm_id}/heartbeat")
    assert response.status_code == 200, response.text
    revision: int = response.json()["revision"]
    return revision
