"""One system call per answer instead of two.

uvicorn writes a response's head when the app sends `http.response.start` and its body when the
app sends `http.response.body`, each with its own `transport.write`, and uvloop sends each write
at once: two `send` system calls for every small JSON answer, made while holding the GIL. In the
profile of P2 (docs/benchmarks.md) those writes were a quarter of the server's samples.

`CoalescingTransport` sits between uvicorn's protocol and the real transport: what is written
during one turn of the event loop is joined and sent once, right after that turn
(`loop.call_soon`). The head and body of an answer are sent in the same turn (neither `send`
waits unless the client is not reading), so they leave together; so do several pipelined
answers. Nothing waits for a timer, so no latency is added. `close()` sends what is pending
first; `abort()` drops it, as an abort drops the transport's own buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self.held = 0  # the bytes pending, kept as they come (the protocol asks per request)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._send)
        chunk = bytes(data)
        self._pending.append(chunk)
        self.held += len(chunk)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _send(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self.held = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._send()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self.held = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self.held + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, extra info, flow control, set_protocol) is the transport's.
        return getattr(self._transport, name)
