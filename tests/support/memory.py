"""A server's resident memory, read from /proc, for the tests of memory bounds."""

from __future__ import annotations

from pathlib import Path

from tests.support.server import ServerProcess

KiB = 1024
MiB = 1024 * KiB


def rss(server: ServerProcess) -> int:
    """The server process's resident set, in bytes (`VmRSS` of /proc/<pid>/status)."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * KiB


def within(grown: int, bound: int) -> str:
    return f"RSS grew {grown / MiB:.1f} MiB, over the documented {bound / MiB:.1f} MiB"
