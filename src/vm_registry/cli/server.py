"""uvicorn's server, adjusted to how a service manager expects a registry to start and stop,
and to what a hostile client may send."""

from __future__ import annotations

import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Request line and headers together. Agents send a few hundred bytes; anything near this is an
# attack or a bug.
MAX_REQUEST_HEAD = 64 * 1024
_TOO_LARGE = b'{"error":"request headers are larger than 64 KiB"}'


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's fast httptools protocol, which puts no bound on a request's head: a client
    sending one endless header line would grow the server's memory until it dies. This counts
    the bytes of each request's head and answers 431 past `MAX_REQUEST_HEAD`. (uvicorn's h11
    protocol has such a bound, but is markedly slower.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Judged after parsing: if the head ended inside this read, the rest is body (bounded
        # by the app's 1 MiB limit), not head. The parser holds at most one read beyond the
        # bound before the connection is cut.
        if self._in_head and self._head_bytes > MAX_REQUEST_HEAD:
            self._refuse()

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TOO_LARGE) + _TOO_LARGE
        )
        self.transport.close()


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_message: str) -> None:
        super().__init__(config)
        self.ready_message = ready_message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Only once the log is replayed and the port is bound: a line a supervisor can trust.
        if self.started:
            print(self.ready_message, file=sys.stderr, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful shutdown, so the process would die
        # "killed by SIGTERM". A requested stop that completed cleanly is a success: exit 0.
        self._captured_signals.clear()
