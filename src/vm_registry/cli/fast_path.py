"""uvicorn's httptools protocol, answering the hot routes' plain requests itself (`api/wire.py`)
instead of building an ASGI scope, a request cycle and a task for each.

At the end of a request's head, the protocol takes it only when all of this holds, and
otherwise hands it to uvicorn exactly as before:

- the fast path is on (`--no-fast-path` turns it off) and uvicorn writes no access log;
- nothing else is in flight on the connection (no answer pending, nothing queued), so answers
  stay in request order without a queue of our own: a request pipelined behind one still being
  answered goes to uvicorn's queue, and a heartbeat pipelined behind it waits there too;
- the client is reading its answers (writing is not paused, and less than uvicorn's high-water
  mark is waiting to be sent), so a client that pipelines without reading is held back by
  uvicorn's flow control, as before;
- `GET` or `POST`, no upgrade, a path of plain characters with no query string (nothing to
  decode: it is the path the app would see), no body (no `Content-Length` but 0, no
  `Transfer-Encoding`), no `Expect`, no `X-Forwarded-For` or `-Proto` (uvicorn's proxy-header
  middleware would change the client the actor names), no root path, no concurrency limit;
- and the app's lean path would answer it (`Wire.match`).

Its answer is written in one piece, with uvicorn's default headers (the date) first and
`connection: close` when the connection is not kept alive, as uvicorn writes an app's answer.
A `WireCycle` stands where uvicorn keeps the request's cycle, so that what the protocol does
around requests (pipelining, keep-alive, shutdown, a lost connection, the bounds and timers of
`cli/uvicorn_server.py`) reads the same state whichever path answers.
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from vm_registry.api import wire
from vm_registry.domain.outcome import Outcome

# Unreserved and sub-delimiter characters, ':' and '@': no '%' to decode, no '?', no '#'. A
# path with anything else goes through uvicorn, which decodes it.
_PLAIN_URL = re.compile(rb"(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+")
# Headers that uvicorn or its middleware act on before the app sees the request.
_UVICORN_HEADERS = frozenset(
    {b"expect", b"transfer-encoding", b"upgrade", b"x-forwarded-for", b"x-forwarded-proto"}
)


class WireCycle:
    """What uvicorn's protocol reads of a request's cycle, for a request it answers itself."""

    __slots__ = (
        "disconnected", "keep_alive", "matched", "method", "path", "response_complete",
        "response_started",
    )  # fmt: skip

    def __init__(self, matched: wire.Matched, method: str, path: str, keep_alive: bool) -> None:
        self.matched = matched
        self.method = method
        self.path = path
        self.keep_alive = keep_alive  # uvicorn's shutdown turns it off while in flight
        self.response_started = False
        self.response_complete = False
        self.disconnected = False  # set by uvicorn's connection_lost

    @property
    def message_event(self) -> WireCycle:
        return self  # connection_lost wakes a cycle's body reader: here there is none

    def set(self) -> None:
        pass


class FastPathProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        found = wire.of(self.config.app)
        self._wire = None if self.access_log else found

    def on_headers_complete(self) -> None:
        taken = self._taken() if self._wire is not None else None
        if taken is None:
            super().on_headers_complete()
        else:
            self.cycle = taken  # type: ignore[assignment]

    def _taken(self) -> WireCycle | None:
        """The cycle of a request this protocol answers itself, or None for uvicorn's."""
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return None
        if self.flow.write_paused or _held(self.transport) > HIGH_WATER_LIMIT:
            return None
        parser = self.parser
        if self.root_path or self.limit_concurrency is not None or parser.should_upgrade():
            return None
        raw = parser.get_method()
        if (raw != b"GET" and raw != b"POST") or not _PLAIN_URL.fullmatch(self.url):
            return None
        for name, value in self.headers:
            if name in _UVICORN_HEADERS or (name == b"content-length" and value != b"0"):
                return None
        assert self._wire is not None
        method, path = raw.decode("ascii"), self.url.decode("ascii")
        matched = self._wire.match(method, path, self.headers)
        if matched is None:
            return None
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        return WireCycle(matched, method, path, keep_alive)

    def on_message_complete(self) -> None:
        cycle: Any = self.cycle
        if type(cycle) is not WireCycle or cycle.response_started:
            super().on_message_complete()
            return
        assert self._wire is not None
        cycle.response_started = True
        exchange = wire.Exchange(
            self._wire, cycle.matched, cycle.method, cycle.path, self.headers, self.client
        )
        try:
            reply = exchange.now()
        except Exception:  # a bug of ours: the connection ends rather than hang unanswered
            self.logger.exception("the fast path failed on %s %s", cycle.method, cycle.path)
            self.transport.close()
            return
        if reply is not None:
            self._finish(cycle, exchange, reply)
            return
        # A heartbeat: answered from its outcome's callback, with no task of its own, unless the
        # writer's queue is full (then a task waits for room, as the app's handler would).
        outcome = exchange.soon()
        if outcome is not None:
            outcome.add_done_callback(partial(self._committed, cycle, exchange))
            return
        task = self.loop.create_task(self._later(cycle, exchange))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)  # a graceful shutdown waits for it, as for the app's tasks

    def _committed(
        self, cycle: WireCycle, exchange: wire.Exchange, outcome: asyncio.Future[Outcome]
    ) -> None:
        if outcome.cancelled():  # no answer can follow on this connection
            self.transport.close()
            return
        reply = exchange.after(outcome)
        if self.flow.write_paused and not cycle.disconnected:
            task = self.loop.create_task(self._drained(cycle, exchange, reply))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        self._finish(cycle, exchange, reply)

    async def _drained(self, cycle: WireCycle, exchange: wire.Exchange, reply: wire.Reply) -> None:
        try:
            await self.flow.drain()
        except BaseException:
            self.transport.close()
            raise
        self._finish(cycle, exchange, reply)

    async def _later(self, cycle: WireCycle, exchange: wire.Exchange) -> None:
        try:
            reply = await exchange.later()
            if self.flow.write_paused and not cycle.disconnected:
                await self.flow.drain()
        except BaseException:
            # Cancelled (a shutdown past its grace): no answer can follow on this connection.
            self.transport.close()
            raise
        self._finish(cycle, exchange, reply)

    def _finish(self, cycle: WireCycle, exchange: wire.Exchange, reply: wire.Reply) -> None:
        if not cycle.disconnected:
            self.transport.write(self._encoded(reply, cycle.keep_alive))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()  # the next pipelined request, or the keep-alive timer
        exchange.done(reply)

    def _encoded(self, reply: wire.Reply, keep_alive: bool) -> bytes:
        """The answer as uvicorn writes an app's: status line, its default headers, the
        answer's, and `connection: close` when the connection ends with it."""
        content = [STATUS_LINE[reply.status]]
        for name, value in self.server_state.default_headers:
            content.extend((name, b": ", value, b"\r\n"))
        for name, value in reply.headers:
            content.extend((name, b": ", value, b"\r\n"))
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        content.append(reply.body)
        return b"".join(content)


def _held(transport: Any) -> int:
    """Bytes written and not yet handed to the socket (cli/coalescing.py holds a loop turn's)."""
    held: int = getattr(transport, "held", 0)
    return held
