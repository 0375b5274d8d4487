# Generated from watch_aio.py by `python -m ops.unasync`: edit that file, not this one.
"""The blocking change-feed loop: connect, hand each message to the `Cursor`, reconnect
after its delay."""

from __future__ import annotations

import time
from collections.abc import Generator
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


def watch_sync(
    http: httpx.Client, cursor: Cursor, read_timeout: float | None = READ_TIMEOUT
) -> Generator[WatchItem, None, None]:
    while True:
        try:
            with http.stream(
                "GET",
                STREAM_PATH,
                params=cursor.query.params(cursor.position),
                headers=cursor.request_headers(),
                timeout=_timeout(read_timeout),
            ) as response:
                if response.status_code != 200:
                    response.read()
                    cursor.refused(response)
                else:
                    cursor.opened(response)
                    for message in EventSource(response).iter_sse():
                        item = cursor.accept(message)
                        if item is not None:
                            yield item
                    cursor.failed("stream closed by the server")
        except DROPS as e:
            cursor.failed(repr(e))
        except SSEError as e:
            raise ProtocolError(f"the change feed is not an event stream: {e}") from e
        time.sleep(cursor.delay())
