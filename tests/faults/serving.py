"""Starting a server that is certainly ours.

`ServerProcess` picks a free port, releases it, and starts the server, which takes a second or
more to import. On a machine running other test suites, another server can bind that port
first; our `/health` poll would then be answered by a stranger while ours dies with "address
already in use". Tests that restart servers many times (kill rounds, torn copies) would check
the wrong registry. This waits for our own process to report that it is listening, and tries
another port when it lost the race.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.server import ServerProcess


def start_server(
    db: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    attempts: int = 4,
) -> ServerProcess:
    for _ in range(attempts):
        server = ServerProcess(db, args=args, env=env)
        try:
            server.start(timeout=60)
        except RuntimeError:
            if "address already in use" in server.output():
                continue
            raise
        if _listening(server):
            return server
        server.kill()
    raise RuntimeError(f"could not start a server on {db} after {attempts} attempts")


def _listening(server: ServerProcess, timeout: float = 30.0) -> bool:
    assert server.proc is not None
    banner = f"Uvicorn running on {server.url}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if banner in server.output():
            return server.proc.poll() is None
        if server.proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False
