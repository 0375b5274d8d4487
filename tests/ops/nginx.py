"""A real nginx on loopback, with a prefix of its own: a config file from ops/nginx wrapped in
a minimal main config, every path (pid, logs, temp files) inside the prefix, in the foreground,
never as a daemon, never touching the machine's own nginx."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "ops" / "nginx" / "vm-registry.conf"
COMPOSE_SITE = REPO / "ops" / "container" / "nginx.conf"

_UPSTREAM = re.compile(r"(upstream vm_registry \{\n)((?:    server [^\n]*\n)+)")
_LISTEN = re.compile(r"^    listen \d+;$", re.MULTILINE)


def site(text: str, upstreams: list[int], port: int) -> str:
    """The site config with its upstream servers and listen port replaced for loopback."""
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    text, found = _UPSTREAM.subn(lambda m: m.group(1) + servers, text)
    assert found == 1, "the config has no upstream vm_registry block of server lines"
    text, found = _LISTEN.subn(f"    listen 127.0.0.1:{port};", text)
    assert found == 1, "the config has no single 'listen <port>;' line"
    return text


class Nginx:
    def __init__(self, executable: str, prefix: Path, site_text: str) -> None:
        self.executable = executable
        self.prefix = prefix
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "site.conf").write_text(site_text)
        temp = "".join(
            f"    {kind}_temp_path {prefix}/{kind}_temp;\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx would hand its workers to "nobody", who may not enter pytest's
        # private temporary directories.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"daemon off;\n{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temp}"
            f"    include {prefix}/site.conf;\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *extra: str) -> list[str]:
        return [
            self.executable, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
            "-e", str(self.prefix / "error.log"), *extra,
        ]  # fmt: skip

    def test(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 20.0) -> Nginx:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/nginx-is-up", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
