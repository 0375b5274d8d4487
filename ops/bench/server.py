"""The server under test: a real `vm-registry serve` the harness starts, or any base URL.

An own server always runs on loopback, on a free port, on a database the harness chose, with
its output in a log file next to that database (so a full pipe can never stall it). Its
readiness is the first `GET /health` that answers 200, polled every few milliseconds, which is
also how cold start is timed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ops.bench import profile
from ops.bench.http1 import HttpError, fetch, split_url

HOST = "127.0.0.1"
READY_POLL_S = 0.005
SERVER_ENV_PREFIXES = ("VM_REGISTRY_", "VERS_", "PORT")


class ServerFailed(Exception):
    """The server under test exited, or never became healthy."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command() -> list[str]:
    script = Path(sys.executable).with_name("vm-registry")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "vm_registry.cli.main"]


def serve_help() -> str:
    """`vm-registry serve --help`, to find the options this version of the server has."""
    done = subprocess.run(
        [*serve_command(), "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    return done.stdout


def cli_commands() -> frozenset[str]:
    """The subcommands of this version of `vm-registry`, from its `--help`."""
    done = subprocess.run([*serve_command(), "--help"], capture_output=True, text=True, timeout=60)
    return frozenset(re.findall(r"^    ([a-z][a-z-]*)\b", done.stdout, re.MULTILINE))


@dataclass
class Target:
    """Where the load goes. `process` is None when the server was given with `--url`."""

    url: str
    process: asyncio.subprocess.Process | None = None
    db: Path | None = None
    log: Path | None = None
    ready_after_s: float | None = None
    extra_args: list[str] = field(default_factory=list)
    profiler: asyncio.subprocess.Process | None = None
    profile: Path | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        return split_url(self.url)

    @property
    def port(self) -> int:
        return self.host_port[1]

    @property
    def owned(self) -> bool:
        return self.process is not None

    def rss_bytes(self) -> int:
        """Resident memory of the server and any worker processes it forked."""
        if self.process is None:
            raise ServerFailed("the RSS of a server given with --url is not visible")
        return tree_rss(self.process.pid)

    def output_tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self.profiler is not None and self.profile is not None:
            # py-spy writes its samples once the process it follows has exited.
            try:
                await asyncio.wait_for(self.profiler.wait(), 30)
            except TimeoutError:
                self.profiler.kill()
                await self.profiler.wait()
            if self.profile.exists():
                summary = profile.summarize(self.profile)
                self.profile.with_suffix(".top.txt").write_text(summary)


async def start_server(
    db: Path,
    *,
    stale_after: float = 3600.0,
    extra_args: Sequence[str] = (),
    timeout: float = 300.0,
    profile_dir: Path | None = None,
    log_level: str = "warning",
) -> Target:
    """`log_level` "info" turns the request log on (P15), as JSON lines into the server's log
    file; every other scenario leaves it off, as a quiet production server would."""
    port = free_port()
    log = db.with_name(f"{db.name}.{port}.log")
    command = [
        *serve_command(), "serve", "--host", HOST, "--port", str(port), "--db", str(db),
        "--stale-after", str(stale_after), *extra_args,
    ]  # fmt: skip
    # The server's defaults, not whatever this shell exports (tokens, self-registration...).
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_ENV_PREFIXES)}
    env["VM_REGISTRY_LOG_LEVEL"] = log_level
    env["VM_REGISTRY_LOG_FORMAT"] = "json"
    target = Target(f"http://{HOST}:{port}", None, db, log, extra_args=list(extra_args))
    await launch(target, command, env=env, timeout=timeout, profile_dir=profile_dir, name=db.stem)
    return target


async def launch(
    target: Target,
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300.0,
    profile_dir: Path | None = None,
    name: str = "server",
) -> None:
    """Start `command` as `target`'s process, its output into `target.log`, and return once
    `GET /health` on `target.url` answers 200 (timed into `ready_after_s`). With
    `profile_dir`, py-spy follows it into `<name>-<port>.raw` there."""
    assert target.log is not None
    with target.log.open("ab") as sink:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=cwd,
        )  # fmt: skip
    target.process = process
    try:
        await _wait_healthy(target, timeout)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    target.ready_after_s = time.perf_counter() - started
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        target.profile = profile_dir / f"{name}-{target.port}.raw"
        target.profiler = await profile.attach(process.pid, target.profile)


async def _wait_healthy(target: Target, timeout: float) -> None:
    assert target.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process.returncode is not None:
            raise ServerFailed(
                f"server exited with {target.process.returncode}:\n{target.output_tail()}"
            )
        try:
            if (await fetch(target.url, "/health")).status == 200:
                return
        except (OSError, HttpError, TimeoutError):
            pass
        await asyncio.sleep(READY_POLL_S)
    raise ServerFailed(f"server not healthy after {timeout:.0f} s:\n{target.output_tail()}")


async def connect_url(url: str) -> Target:
    response = await fetch(url.rstrip("/"), "/health")
    if response.status != 200:
        raise ServerFailed(f"{url}/health answered {response.status}")
    return Target(url.rstrip("/"))


def tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _rss(pid)
        pending.extend(children.get(pid, []))
    return total


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0
