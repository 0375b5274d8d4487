"""The asyncio change-feed loop: connect, hand each message to the `Cursor`, reconnect after
its delay. `watch_sync.py` is generated from this file (`python -m ops.unasync`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Final

import httpx
from httpx_sse import EventSource, SSEError

from vm_registry.client.errors import ProtocolError
from vm_registry.client.models import WatchItem
from vm_registry.client.watch import READ_TIMEOUT, STREAM_PATH, Cursor

# Everything that means "the connection failed or broke", as opposed to a refusal.
DROPS: Final = (httpx.TransportError,)


def _timeout(read_timeout: float | None) -> httpx.Timeout:
    return httpx.Timeout(10.0, read=read_timeout)


async def watch_async(
    http: httpx.AsyncClient, cursor: Cursor, read_timeout: float | None = READ_TIMEOUT
) -> AsyncGenerator[WatchItem, None]:
    while True:
        try:
            async with http.stream(
                "GET",
                STREAM_PATH,
                params=cursor.query.params(cursor.position),
                headers=cursor.request_headers(),
                timeout=_timeout(read_timeout),
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    cursor.refused(response)
                else:
                    cursor.opened(response)
                    async for message in EventSource(response).aiter_sse():
                        item = cursor.accept(message)
                        if item is not None:
                            yield item
                    cursor.failed("stream closed by the server")
        except DROPS as e:
            cursor.failed(repr(e))
        except SSEError as e:
            raise ProtocolError(f"the change feed is not an event stream: {e}") from e
        await asyncio.sleep(cursor.delay())
