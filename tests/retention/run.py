"""A server under retention with small values, and a writer that keeps it busy."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import ServerProcess

# Events older than two seconds leave the live log; runs every 0.2 s, 200 events a step.
RETAIN = ["--retain", "2s", "--retain-interval", "0.2", "--retain-step", "200",
          "--snapshot-every", "50"]  # fmt: skip


def server(db: Path, archive: Path | None, *extra: str) -> ServerProcess:
    args = [*RETAIN, *extra]
    if archive is not None:
        args += ["--archive-dir", str(archive)]
    return ServerProcess(db, args=args)


class Beats:
    """Heartbeats from a thread, every answer's status counted, until stopped."""

    def __init__(self, url: str, vm_ids: list[str]) -> None:
        self.url = url
        self.vm_ids = vm_ids
        self.codes: Counter[int] = Counter()
        self.acked = 0  # the highest revision a 200 answered with
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._done.is_set():
                for vm_id in self.vm_ids:
                    try:
                        answer = http.post(f"/registry/vms/{vm_id}/heartbeat")
                    except httpx.HTTPError:
                        self.codes[0] += 1  # the server went away (a kill -9 test)
                        continue
                    self.codes[answer.status_code] += 1
                    if answer.status_code == 200:
                        self.acked = max(self.acked, answer.json()["revision"])

    def __enter__(self) -> Beats:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def wait_for(what: Callable[[], Any], seconds: float = 60) -> Any:
    """Poll until `what()` is truthy; a bound against a hang, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"still not so after {seconds} s")


def retained(http: httpx.Client) -> dict[str, Any]:
    window: dict[str, Any] = http.get("/health").json()["retention"]
    return window
