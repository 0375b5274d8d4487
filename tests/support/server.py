"""A real `vm-registry serve` process on a free loopback port, for tests.

Tests talk to the registry the way agents do: over HTTP to a separate process, on a real
SQLite file (or, under `make test-postgres`, a real PostgreSQL database standing for that file:
tests/support/backend.py). Nothing is mocked.

Starting a server that is certainly ours: `ServerProcess` picks a free port, releases it, and
starts the server, which takes a second or more to import. On a machine running other test
suites, another server can bind that port first. So `start` waits for *this* process's own
ready line (printed once it has bound the port, after the log is replayed), never for any
answer on the port, and when the process lost the race ("address already in use") it tries
again on another port. A port the test chose itself is never changed behind its back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from tests.support import backend

# A developer's shell must not leak these into tests that did not ask for them.
UNINHERITED = ("VERS_AUTH_TOKEN", "VERS_VM_ID")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortTaken(RuntimeError):
    """Another process bound the port between our pick and the server's bind."""


class ServerProcess:
    def __init__(
        self,
        db: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        target: str | None = None,
    ) -> None:
        self.db = db
        # What `--db` says, when not the suite backend's registry for `db` (a test's own URL).
        self.target = target
        self.args = list(args)
        self.env = dict(env or {})
        self._port_chosen = port is not None
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.db.with_suffix(f".{self.port}.log")

    def start(self, timeout: float = 60.0, attempts: int = 4) -> ServerProcess:
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if self._port_chosen or attempt == attempts - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> ServerProcess:
        inherited = {k: v for k, v in os.environ.items() if k not in UNINHERITED}
        env = {**inherited, **self.env}
        command = [
            sys.executable, "-m", "vm_registry.cli.main", "serve",
            "--port", str(self.port), "--db", self.target or backend.target(self.db), *self.args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                if "address already in use" in output:
                    raise PortTaken(f"port {self.port} was taken:\n{output}")
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{output}")
            # Our own ready line: another test run's server on a recycled port would answer
            # /health too.
            if f"listening on {self.url} " in self.output():
                try:
                    if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become healthy:\n{self.output()}")

    def output(self) -> str:
        """What the server wrote to its log so far: while it runs, only up to its last
        complete line. The server may be halfway through writing one (a half-written JSON line
        does not parse, and a half-written message lacks its end), so a reader would see it
        torn; once the process has exited, everything."""
        running = self.proc is not None and self.proc.poll() is None  # before reading
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text[: text.rfind("\n") + 1] if running else text

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, as a service manager would, and wait for the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
