"""Several `vm-registry serve` processes on one log: a SQLite file (what `serve --workers`
does) or a PostgreSQL database. Each is a real server on its own port; nothing is mocked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.server import ServerProcess

T = TypeVar("T")

# Small windows, so a takeover or a stale mark happens within a test's patience.
FAST = ("--reap-interval", "0.25", "--min-revision-wait", "2", "--snapshot-every", "50")


class Cluster:
    def __init__(
        self, folder: Path, target: str, count: int = 3, args: Sequence[str] = FAST
    ) -> None:
        self.folder = folder
        self.target = target  # a file path or a postgresql:// URL
        self.args = list(args)
        self.replicas = [self._process(i) for i in range(count)]

    def _process(self, index: int) -> ServerProcess:
        args = ["--db", self.target, "--self-id", f"replica-{index}", *self.args]
        return ServerProcess(self.folder / f"replica-{index}.db", args=args)

    def start(self) -> Cluster:
        for replica in self.replicas:
            replica.start()
        return self

    def restart(self, index: int) -> ServerProcess:
        """A new process in place of replica `index` (after a kill)."""
        old = self.replicas[index]
        old.kill()
        fresh = ServerProcess(old.db, args=old.args)
        self.replicas[index] = fresh
        return fresh.start()

    def join(self) -> ServerProcess:
        """One more replica on the same log, started now, after the others have written: it
        is not one of `replicas`, and the caller kills it."""
        return self._process(len(self.replicas) + 1000).start()

    def stop(self) -> None:
        for replica in self.replicas:
            replica.kill()

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def alive(self) -> list[ServerProcess]:
        return [r for r in self.replicas if r.proc is not None and r.proc.poll() is None]

    def health(self, replica: ServerProcess) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{replica.url}/health", timeout=5).json()
        return body

    def leaders(self) -> list[int]:
        return [
            i for i, r in enumerate(self.replicas) if r in self.alive() and self.health(r)["leader"]
        ]


@contextmanager
def cluster(
    folder: Path, target: str, count: int = 3, args: Sequence[str] = FAST
) -> Iterator[Cluster]:
    running = Cluster(folder, target, count, args)
    try:
        yield running.start()
    finally:
        running.stop()


def eventually(check: Callable[[], T | None], timeout: float = 15, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def whole_log(url: str) -> list[dict[str, Any]]:
    """Every event a replica's /registry/events serves, page by page."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{url}/registry/events", params={"after": after, "limit": 1000}, timeout=10
        ).json()
        events.extend(page["events"])
        if page["count"] < 1000:
            return events
        after = page["next"]
