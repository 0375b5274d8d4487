"""The framing between the server and its probe process: length-prefixed JSON messages.

Each message is a 4-byte big-endian length, then that many bytes of JSON. Read with
`readexactly`, a frame has no line limit (asyncio's line reader stops at 64 KiB, and one
registration with 64 services on a 970-character address made a round longer than that: the
child failed every round, and no VM of the fleet was probed again). What bounds a frame is
the sender: a round goes over in pieces of at most `PIECE` targets, so no frame holds more than
`PIECE` entries' worth of addresses and paths, whatever the fleet's size.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Final

import orjson

PIECE: Final = 256  # targets per frame of a round
_LENGTH: Final = struct.Struct(">I")


def frame(message: Any) -> bytes:
    body = orjson.dumps(message)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any | None:
    """The next message, or None at a clean end of the stream (between two frames).

    Raises `asyncio.IncompleteReadError` when the stream ends inside a frame."""
    try:
        head = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    (size,) = _LENGTH.unpack(head)
    return orjson.loads(await reader.readexactly(size))
