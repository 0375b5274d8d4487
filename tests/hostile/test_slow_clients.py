"""Slowloris-style clients and streams that never read must not exhaust the server.

150 hostile sockets at once: 50 trickle their request headers a byte at a time, 50 send headers
and then trickle a body, 50 open the change feed and never read a byte while the log grows.
Throughout, ordinary requests must succeed promptly; afterwards every stream slot is released.

What bounds them (docs/reliability.md has the full list): each costs the server one socket and
a few KiB (asyncio reads only what arrives; a request's head may be at most 64 KiB, then 431;
its body 1 MiB, then 413); a stream that does not read holds only its cursor, because uvicorn
stops writing once the socket buffer is full; the subscriber cap (`--max-subscribers`, 1,000)
bounds streams. Here the header and body timeouts are set far beyond the test's length, to show
that even without them the tricklers cost little; `test_protocol_level.py` and
`test_body_timeout.py` test the timeouts.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.support.server import ServerProcess

EACH = 50
EVENTS = 300
PROMPT = 5.0  # seconds: an ordinary request slower than this counts as starved


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("slow") / "registry.db",
        args=["--keepalive", "0.5", "--header-timeout", "600", "--body-timeout", "600"],
    ).start()
    try:
        yield server
    finally:
        server.kill()


def rss_kib(server: ServerProcess) -> int:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def connect(
    server: ServerProcess, first: bytes, *, receive_buffer: int | None = None
) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(first)
    return sock


class Trickle:
    """Sends one more byte on each socket every half second, until stopped."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        alive = list(self.sockets)
        while not self._stop.wait(0.5):
            for sock in list(alive):
                try:
                    sock.sendall(b"a")
                except OSError:
                    alive.remove(sock)
                    self.closed_by_server += 1


def timed(call: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = call()  # type: ignore[operator]
    return answer, time.monotonic() - started


def test_slow_and_silent_clients_do_not_starve_anyone(live: ServerProcess) -> None:
    header_tricklers: list[socket.socket] = []
    body_tricklers: list[socket.socket] = []
    silent_streams: list[socket.socket] = []
    try:
        for _ in range(EACH):
            header_tricklers.append(connect(live, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "))
            body_tricklers.append(
                connect(
                    live,
                    b"POST /registry/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    b"\r\nContent-Length: 100000\r\n\r\n{",
                )
            )
            silent_streams.append(
                connect(
                    live,
                    b"GET /registry/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n",
                    receive_buffer=4096,
                )
            )
        slowest = 0.0
        with (
            Trickle(header_tricklers + body_tricklers) as trickle,
            httpx.Client(base_url=live.url, timeout=30) as http,
        ):
            before = rss_kib(live)
            padding = {"notes": "x" * 20_000}
            for n in range(EVENTS):
                # Each event is ~20 KiB on every stream: far more than the socket buffers of a
                # silent stream hold, so the server must stop writing to it, not buffer it.
                answer, took = timed(
                    lambda n=n: http.post("/registry/vms", json=vm(f"slow-{n}", metadata=padding))
                )
                assert answer.status_code == 201, answer.text
                slowest = max(slowest, took)
                if n % 10 == 0:
                    for path in ("/health", "/registry/vms", "/registry/discover/worker"):
                        answer, took = timed(lambda path=path: http.get(path))
                        assert answer.status_code == 200
                        slowest = max(slowest, took)
            assert http.get("/health").json()["subscribers"] == EACH
            grown = rss_kib(live) - before
            # 50 silent streams x 6 MiB of frames: buffering them would show; cursors do not.
            assert grown < 100 * 1024, f"the server grew {grown} KiB"
            assert trickle.closed_by_server == 0  # not timed out here; they just cost little
        assert slowest < PROMPT, f"an ordinary request took {slowest:.1f} s"
    finally:
        for sock in header_tricklers + body_tricklers + silent_streams:
            with contextlib.suppress(OSError):
                sock.close()
    with httpx.Client(base_url=live.url, timeout=10) as http:
        deadline = time.monotonic() + 15
        while http.get("/health").json()["subscribers"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http.get("/health").json()["subscribers"] == 0, "a silent stream kept its slot"
        assert http.post("/registry/vms", json=vm("after-the-storm")).status_code == 201


def test_an_endless_header_cannot_grow_the_server_without_bound(live: ServerProcess) -> None:
    before = rss_kib(live)
    sent = 0
    with connect(live, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Flood: ") as sock:
        try:
            for _ in range(32):
                sock.sendall(b"a" * (1 << 20))
                sent += 1
        except OSError:
            pass  # the server cut us off: that is the bound
        time.sleep(0.5)
        grown = rss_kib(live) - before
    assert sent < 32 or grown < 16 * 1024, f"{sent} MiB of header grew the server {grown} KiB"


def test_a_request_head_over_64_kib_is_refused_with_431(live: ServerProcess) -> None:
    with connect(live, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024)) as sock:
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    assert list(json.loads(body)) == ["error"]
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/health").status_code == 200
