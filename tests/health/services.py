"""Real HTTP services on loopback ports for the health checker to probe.

One threaded server answers by path: `/ok` 200, `/fail` 500, `/hang` waits longer than any
probe timeout, `/flip` and `/flap` answer 200 or 503 as the test says, `/alternate` answers
200 and 503 by turns (200 first, per path), `/redirect` sends a 302 to `/ok-after-redirect`.
Each hit is counted by path, so a test can see what the registry did and did not request.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Services:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        self.flip_healthy = True
        self.flap_healthy = True
        self.last_host: str | None = None  # the Host header of the latest request
        self.released = threading.Event()  # ends the hanging answers at teardown
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def hit(self, path: str) -> int:
        with self._lock:
            self.hits[path] += 1
            return self.hits[path]


def _handler(services: Services) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            count = services.hit(path)
            services.last_host = self.headers.get("Host")
            if path.startswith("/ok"):
                self._answer(200)
            elif path.startswith("/fail"):
                self._answer(500)
            elif path.startswith("/hang"):
                services.released.wait(10)
                self._answer(200)
            elif path.startswith("/flip"):
                self._answer(200 if services.flip_healthy else 503)
            elif path.startswith("/flap"):
                self._answer(200 if services.flap_healthy else 503)
            elif path.startswith("/alternate"):
                self._answer(200 if count % 2 else 503)
            elif path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "/ok-after-redirect")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._answer(404)

        def _answer(self, status: int) -> None:
            body = b'{"status":"ok"}' if status < 300 else b'{"status":"down"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the prober gave up on a hanging answer and hung up

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_services(host: str = "127.0.0.1") -> Iterator[Services]:
    server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    services = Services(server)
    server.RequestHandlerClass = _handler(services)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="health-services", daemon=True)
    thread.start()
    try:
        yield services
    finally:
        services.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
