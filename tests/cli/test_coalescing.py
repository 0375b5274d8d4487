"""cli/coalescing.py in isolation: what one turn of the loop writes goes out as one write to
the real transport, in order; close sends what is pending first, abort drops it. (The hostile
and feed suites run every server answer, streams included, through it.)"""

from __future__ import annotations

import asyncio
from typing import Any

from vm_registry.cli.coalescing import CoalescingTransport


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def coalescing() -> tuple[CoalescingTransport, Recorder]:
    real = Recorder()
    wrapped: Any = real
    return CoalescingTransport(wrapped, asyncio.get_running_loop()), real


async def test_one_turns_writes_leave_as_one_write_after_the_turn() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"{}")
    assert real.writes == [] and transport.get_write_buffer_size() == 21
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]


async def test_close_sends_what_is_pending_first() -> None:
    transport, real = coalescing()
    transport.write(b"refused")
    transport.close()
    assert real.writes == [b"refused"] and real.closed
    await asyncio.sleep(0)
    assert real.writes == [b"refused"]


async def test_abort_drops_what_is_pending() -> None:
    transport, real = coalescing()
    transport.write(b"lost")
    transport.abort()
    await asyncio.sleep(0)
    assert real.writes == [] and real.aborted


async def test_everything_else_is_the_real_transports() -> None:
    transport, _ = coalescing()
    assert transport.get_extra_info("peername") == "info:peername"
