"""Issue #25, item 5: the trailers after a chunked body passed both the body limit and the head
limit. `POST /registry/vms` with the body `2\\r\\n{}\\r\\n0\\r\\n` and then 300 MB of trailer
lines was read to the end, each line kept (the server grew to 410 MB), and then answered.

Trailers are now held to the head's bound, 64 KiB, however they arrive (many short lines, or one
line that never ends): past it the server answers 431 `{"error"}` and closes the connection, so
what it holds stays bounded whatever the client still had to send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from tests.conftest import vm
from tests.hostile.raw_http import json_error, send_until_answered, split_answers
from tests.support.fixtures import server_fixture
from tests.support.memory import MiB, rss
from tests.support.server import ServerProcess

FLOOD = 16 * MiB  # what the client would send if nothing stopped it

live = server_fixture("trailers")


def chunked_registration(vm_id: str, extra_headers: bytes = b"") -> bytes:
    """The head and the chunked body of a valid registration, up to where trailers go."""
    body = json.dumps(vm(vm_id)).encode()
    return (
        b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n%s\r\n%x\r\n%s\r\n0\r\n" % (extra_headers, len(body), body)
    )


def many_trailer_lines(vm_id: str) -> Iterator[bytes]:
    yield chunked_registration(vm_id)
    line = b"X-Trailer: " + b"t" * 1000 + b"\r\n"
    for _ in range(FLOOD // (64 * len(line))):
        yield line * 64
    yield b"\r\n"


def one_endless_trailer(vm_id: str) -> Iterator[bytes]:
    yield chunked_registration(vm_id) + b"X-Trailer: "
    for _ in range(FLOOD // (64 * 1024)):
        yield b"t" * 64 * 1024
    yield b"\r\n\r\n"


def test_many_trailer_lines_past_the_head_limit_are_431_and_close(
    live: ServerProcess, vm_id: str
) -> None:
    before = rss(live)
    answer, sent = send_until_answered(live, many_trailer_lines(vm_id))
    assert "request trailers are larger than 64 KiB" in json_error(answer, 431)  # then closed
    assert sent < FLOOD
    assert rss(live) - before < 8 * MiB


def test_one_endless_trailer_line_is_431_and_close(live: ServerProcess, vm_id: str) -> None:
    before = rss(live)
    answer, sent = send_until_answered(live, one_endless_trailer(vm_id))
    assert "request trailers are larger than 64 KiB" in json_error(answer, 431)
    assert sent < FLOOD
    assert rss(live) - before < 8 * MiB


def test_trailers_within_the_limit_are_read_and_dropped(live: ServerProcess, vm_id: str) -> None:
    request = chunked_registration(vm_id, b"Connection: close\r\n")
    answer, _ = send_until_answered(live, [request + b"X-Checksum: abc\r\nX-Role: db\r\n\r\n"])
    [(status, _, body)] = split_answers(answer)
    assert status == 201, body
    assert json.loads(body)["role"] == "worker"
