"""Chunk extensions (`2;name=value`) had no bound. httptools reads them without keeping them, so
they cost no memory, but the server kept reading one for the whole body timeout: 226 MB of a
single extension were parsed in one second for a body that never had a byte of data.

The framing of a chunked body (its size lines with their extensions, the line end after each
chunk's data) is now held to 64 KiB in total, however it is split into lines and reads; past
it the server answers 413 `{"error"}` and closes the connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from tests.conftest import vm
from tests.hostile.raw_http import exchange, json_error, send_until_answered, split_answers
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.memory import MiB, rss
from tests.support.server import ServerProcess

FLOOD = 16 * MiB  # what the client would send if nothing stopped it
REFUSAL = "request body's chunk framing (sizes and extensions) is larger than 64 KiB"

live = server_fixture("chunk-extensions")
http = http_fixture("live")

HEAD = (
    b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def one_endless_extension() -> Iterator[bytes]:
    yield HEAD + b"2;ext="
    for _ in range(FLOOD // (64 * 1024)):
        yield b"e" * 64 * 1024


def many_long_extensions() -> Iterator[bytes]:
    """A chunk of one byte behind each 32 KiB extension: every size line is within the bound,
    their sum is not. Each write ends right after a size line, so every read but the first
    begins with data."""
    yield HEAD
    for _ in range(FLOOD // (32 * 1024)):
        yield b"1;ext=" + b"e" * 32 * 1024 + b"\r\n"
        yield b" \r\n"


def test_one_endless_chunk_extension_is_413_and_close(live: ServerProcess) -> None:
    before = rss(live)
    answer, sent = send_until_answered(live, one_endless_extension())
    assert REFUSAL in json_error(answer, 413)  # then closed
    assert sent < FLOOD
    assert rss(live) - before < 8 * MiB


def test_many_long_chunk_extensions_are_413_and_close(live: ServerProcess) -> None:
    answer, sent = send_until_answered(live, many_long_extensions())
    assert REFUSAL in json_error(answer, 413)
    assert sent < FLOOD


def test_a_chunked_registration_with_short_extensions_and_small_chunks_is_served(
    live: ServerProcess, http: httpx.Client, vm_id: str
) -> None:
    body = json.dumps(vm(vm_id)).encode()
    chunks = [body[i : i + 8] for i in range(0, len(body), 8)]
    framed = b"".join(b"%x;name=value\r\n%s\r\n" % (len(c), c) for c in chunks)
    head = HEAD[:-2] + b"Connection: close\r\n\r\n"
    [(status, _, _)] = split_answers(exchange(live, head + framed + b"0\r\n\r\n"))
    assert status == 201
    assert http.get(f"/registry/vms/{vm_id}").status_code == 200
