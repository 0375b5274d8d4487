"""HTTP/1.1 over a raw socket, for tests of what a client may send below any HTTP library: the
answers are judged as bytes on the wire, whatever server implementation gives them."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterable

from tests.support.server import ServerProcess

SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy")


def exchange(live: ServerProcess, *pieces: bytes, pause: float = 0.0) -> bytes:
    """Send the pieces as separate writes, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass  # the server may cut us off mid-way: its answer is already on the wire
        return read_to_close(sock)


def send_until_answered(live: ServerProcess, pieces: Iterable[bytes]) -> tuple[bytes, int]:
    """Send the pieces one after another until the server answers or closes (so a refused
    flood stops at once, however long it would have been), then read until it closes.
    Returns the answer and how many bytes were sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        try:
            for piece in pieces:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # cut off mid-way: the answer is already on the wire
        return read_to_close(sock), sent


def read_to_close(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


Answer = tuple[int, dict[str, str], bytes]  # status, headers (lowercased), body


def split_answers(stream: bytes) -> list[Answer]:
    """The answers in a connection's bytes, in order, each delimited by its Content-Length."""
    answers = []
    while stream:
        head, found, rest = stream.partition(b"\r\n\r\n")
        assert found, f"an incomplete answer: {stream[:300]!r}"
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        answers.append((int(lines[0].split()[1]), headers, rest[:length]))
        stream = rest[length:]
    return answers


def json_error(answer: bytes, status: int) -> str:
    """The message of `answer`, which must be exactly one error answer with `status`."""
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    [parsed] = split_answers(answer)
    return error_message(parsed, status)


def error_message(answer: Answer, status: int) -> str:
    """The message of an `{"error"}` JSON answer with `status` and the security headers."""
    got, headers, body = answer
    assert got == status, answer
    assert headers["content-type"].startswith("application/json"), headers
    for name in SECURITY_HEADERS:
        assert name in headers, f"{name} missing from {headers}"
    parsed = json.loads(body)
    assert list(parsed) == ["error"], parsed
    message: str = parsed["error"]
    return message
