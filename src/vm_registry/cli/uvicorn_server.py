"""uvicorn's server, adjusted to how a service manager expects a registry to start and stop,
and to what a hostile client may send."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import httptools
import orjson
import uvicorn
from litestar import Litestar

from vm_registry.api import resources
from vm_registry.api.headers import SECURITY_HEADERS
from vm_registry.cli.coalescing import CoalescingTransport
from vm_registry.cli.deadlines import Deadline
from vm_registry.cli.fast_path import FastPathProtocol

# Request line and headers together. Agents send a few hundred bytes; anything near this is an
# attack or a bug.
MAX_REQUEST_HEAD = 64 * 1024
# From a connection's first byte (or its opening) to the end of a request's head. Agents send
# their head in one packet; only a slowloris client takes seconds.
HEADER_TIMEOUT = 10.0
# From the end of a request's head to the end of its body. Agents send a few KiB at once; a
# body that takes this long is a client that stopped, or one holding a handler on purpose.
BODY_TIMEOUT = 30.0

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}


class _HeadTooLarge(Exception):
    part = "headers"


class _TrailersTooLarge(_HeadTooLarge):
    part = "trailers"


class BoundedHttpToolsProtocol(FastPathProtocol):
    """uvicorn's fast httptools protocol, with the bounds it lacks (its h11 protocol has some,
    but is markedly slower):

    - a request's head may be at most `max_head` bytes, then 431. It is judged twice: on the
      bytes read while the head is incomplete (so one endless header line cannot grow memory),
      and on the parsed head once complete (so a head that arrives with its end in one read is
      caught too, however its bytes were split);
    - the trailers after a chunked body are held to the same bound, judged the same two ways,
      then 431. They are read and dropped, never added to the request's headers (RFC 9112
      7.1.2 lets a recipient discard them): the app has read its headers long before, and a
      client could otherwise grow that list without end;
    - the framing of a chunked body (each chunk's size line with its extensions, the line end
      after its data) is held to the same bound in total, then 413. httptools reads chunk
      extensions without keeping them, so they cost no memory, but nothing else stopped a
      client sending one for the whole body timeout (gigabytes parsed for an empty body). It
      is the bytes of each read that began and ended inside the body, less the body bytes
      parsed from it, so it is exact but for the reads where the head ends or the message
      does (one read each), and reads of trailers alone, which have their bound;
    - a refusal that concerns a request behind one still being answered (a pipelined head over
      the bound, say) waits for the answers before it, then closes: the client gets every
      answer it is owed, in order;
    - the head must be complete within `header_timeout` seconds of the connection opening or
      the request's first byte, then 408 (or, when nothing was sent at all, a plain close);
    - its body must be complete within `body_timeout` seconds of its head, then 408 (or, when
      the app has begun answering, a plain close). Time the server itself stops reading (a
      pipelined request waiting its turn, a body the handler has not taken yet) is not held
      against the client;
    - whatever the parser refuses (an unknown method, a bad chunk, NUL in a header, both
      Content-Length and chunked) gets a JSON `{"error"}` with the security headers, not
      uvicorn's plain-text 400.

    Below these bounds, the hot routes' plain requests are answered by the protocol itself
    (`cli/fast_path.py`), all else by the app.
    """

    max_head = MAX_REQUEST_HEAD
    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._raw_head = 0  # bytes read since the head began, while it is incomplete
        self._parsed_head = 0  # the request line and headers, as parsed
        self._in_head = True
        self._received = False
        # The three timeouts are deadlines, not loop timers: set and cleared on every request,
        # they almost never fire (cli/deadlines.py).
        self._head_timer = Deadline(self.loop, self._head_timed_out)
        self._body_pending = False  # a head is complete, its body is not
        self._body_timer = Deadline(self.loop, self._body_timed_out)
        self._idle_timer = Deadline(self.loop, self.timeout_keep_alive_handler)
        # After a chunk's size line and before its data: only the last chunk has none, and
        # its trailers follow.
        self._trailing = False
        self._raw_trailer = 0  # bytes of reads that began while trailing
        self._parsed_trailer = 0
        self._framing = 0  # a chunked body's bytes that are not its data, so far
        self._body_read = 0  # body bytes parsed from the current read
        self._ended_in_read = False  # a message ended inside the current read
        self._deferred: bytes | None = None  # a refusal waiting for earlier answers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # An answer's head and body in one system call, not two (cli/coalescing.py).
        coalescing: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_timer.cancel()
        self._body_timer.cancel()
        self._idle_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deferred is not None:
            return  # refused: nothing more of this connection is read
        self._unset_keepalive_if_required()
        self._received = True
        began_in_head, began_trailing = self._in_head, self._trailing
        if began_in_head:
            self._raw_head += len(data)
        elif began_trailing:
            self._raw_trailer += len(data)
        self._body_read = 0
        self._ended_in_read = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                part = error.__context__.part
                self._refuse(431, f"request {part} are larger than {self.max_head // 1024} KiB")
            else:
                self._refuse(400, f"invalid HTTP request: {error}")
            return
        # Judged after parsing: if the head ended inside this read, the rest is body (bounded
        # by the app's body limit), not head. The parser holds at most one read beyond the
        # bound before the connection is cut.
        if self._in_head and self._raw_head > self.max_head:
            self._refuse(431, f"request headers are larger than {self.max_head // 1024} KiB")
        elif self._trailing and self._raw_trailer > self.max_head:
            self._refuse(431, f"request trailers are larger than {self.max_head // 1024} KiB")
        elif not (began_in_head or self._ended_in_read) and self._framed_past(
            len(data), began_trailing
        ):
            self._refuse(
                413,
                "request body's chunk framing (sizes and extensions) is larger than "
                f"{self.max_head // 1024} KiB",
            )
        elif self._body_pending:
            # Armed here rather than when the head completes: a request without a body (every
            # GET, the stream's included) completes within the same read and costs no timer.
            self._arm_body_timer()

    def _framed_past(self, read: int, began_trailing: bool) -> bool:
        """After a read that began and ended inside the body: what of it was not data counts
        (nothing, for a Content-Length body). A read of trailers alone (it began after a size
        line and held no data, so that line was the last chunk's) is left to their own bound."""
        if began_trailing and not self._body_read:
            return False
        self._framing += read - self._body_read
        return self._framing > self.max_head

    def on_message_begin(self) -> None:
        self._in_head = True
        self._parsed_head = 0
        self._parsed_trailer = 0
        self._framing = 0
        self._arm_head_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:  # a trailer: counted, then dropped
            self._parsed_trailer += len(name) + len(value) + 4
            if self._parsed_trailer > self.max_head:
                raise _TrailersTooLarge  # httptools stops parsing; data_received answers 431
            return
        self._parsed_head += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        if self._parsed_head > self.max_head:
            raise _HeadTooLarge  # httptools stops parsing; data_received answers 431
        self._in_head = False
        self._raw_head = 0
        super().on_headers_complete()
        self._body_pending = not (self.parser.should_upgrade() and self._should_upgrade())

    def on_chunk_header(self) -> None:
        self._trailing = True
        self._raw_trailer = 0

    def on_body(self, body: bytes) -> None:
        self._trailing = False
        self._body_read += len(body)
        super().on_body(body)

    def on_chunk_complete(self) -> None:
        self._trailing = False

    def on_message_complete(self) -> None:
        self._ended_in_read = True
        self._in_head = True  # whatever follows on this connection is the next request's head
        self._trailing = False
        self._body_pending = False
        self._disarm_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, with the keep-alive timeout a deadline (uvicorn arms a loop timer here).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:  # the next pipelined request, or else the keep-alive timeout
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_timer.set(self.timeout_keep_alive)
        if self._deferred is None or self.transport.is_closing():
            return
        if self.pipeline or not self.cycle.response_complete:
            self.flow.pause_reading()  # uvicorn resumed it for the next pipelined request
            return
        self._unset_keepalive_if_required()
        self.transport.write(self._deferred)
        self.transport.close()

    def _unset_keepalive_if_required(self) -> None:
        self._idle_timer.clear()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    # -- the head timer ----------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if not self._head_timer.armed and self.header_timeout > 0:
            self._head_timer.set(self.header_timeout)

    def _disarm_head_timer(self) -> None:
        self._head_timer.clear()

    def _head_timed_out(self) -> None:
        if not self._in_head or self.transport.is_closing():
            return
        if self._received and self._raw_head:
            self._refuse(408, f"request headers did not arrive within {self.header_timeout:g} s")
        else:  # a connection that never sent a byte gets no answer, just the close
            self.transport.close()

    # -- the body timer ----------------------------------------------------------------------

    def _arm_body_timer(self) -> None:
        if not self._body_timer.armed and self.body_timeout > 0:
            self._body_timer.set(self.body_timeout)

    def _disarm_body_timer(self) -> None:
        self._body_timer.clear()

    def _body_timed_out(self) -> None:
        if not self._body_pending or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server is not reading (the body waits for its handler, or the request for
            # the one before it): the client cannot be late. Look again a period later.
            self._arm_body_timer()
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            # Answered (or answering) without the rest of the body, say a 413: a 408 after it
            # would be read as the next request's answer, so the connection is simply cut.
            self.transport.close()
            return
        self._refuse(408, f"request body did not arrive within {self.body_timeout:g} s")

    # -- answering at the protocol level -----------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        if self.transport.is_closing() or self._deferred is not None:
            return
        cycle = self.cycle
        if self._in_head and cycle is not None and not cycle.response_complete:
            # A later request's head, behind one still being answered: the earlier answers
            # go first (on_response_complete), then this one, then the close.
            self._deferred = protocol_error(status, message)
            self.flow.pause_reading()
            return
        if not self._in_head and cycle is not None and cycle.response_started:
            # The app is answering (or has answered) this request: a second status line would
            # corrupt the response, or read as the next request's, so the connection is cut.
            self.transport.close()
            return
        self.transport.write(protocol_error(status, message))
        self.transport.close()


def protocol_error(status: int, message: str) -> bytes:
    """A complete HTTP response, in the same shape as every error the app gives."""
    body = orjson.dumps({"error": message})
    head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Error"))]
    head.append(b"content-type: application/json\r\n")
    head.append(b"content-length: %d\r\nconnection: close\r\n" % len(body))
    head.extend(name + b": " + value + b"\r\n" for name, value in SECURITY_HEADERS)
    head.append(b"cache-control: no-store\r\n\r\n")
    return b"".join(head) + body


def bounded_protocol(
    header_timeout: float, body_timeout: float = BODY_TIMEOUT
) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with the configured timeouts."""
    timeouts = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), timeouts)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_message: Callable[[], str]) -> None:
        super().__init__(config)
        self.ready_message = ready_message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Only once the log is replayed and the port is bound: a line a supervisor can trust.
        if self.started:
            # Rendered now, so its timestamp is when the server became ready.
            print(self.ready_message(), file=sys.stderr, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Before uvicorn waits for open requests to finish: the app answers what it holds
        # (blocking queries) now, rather than have them cut at the grace timeout.
        app = self.config.app
        if isinstance(app, Litestar):
            resources.of_app(app).runtime.begin_shutdown()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful shutdown, so the process would die
        # "killed by SIGTERM". A requested stop that completed cleanly is a success: exit 0.
        self._captured_signals.clear()
