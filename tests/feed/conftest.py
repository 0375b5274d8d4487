from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

# One server for the stream and fan-out tests that need no special setup; each test uses its own
# VM ids and judges only what happened after it started. A small tail (50 events) makes
# every resume from further back than that replay from the log, so that path is always tested.
FEED_ARGS = ["--bookmark-after", "0.3", "--feed-tail", "50", "--keepalive", "0.5"]

StartServer = Callable[..., ServerProcess]


feed_server = server_fixture("feed", *FEED_ARGS, scope="session")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with their own flags; every one is killed at the end of the test."""
    started: list[ServerProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, db: Path | None = None
    ) -> ServerProcess:
        proc = ServerProcess(db or tmp_path / "registry.db", args=list(args), env=env).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def async_client(url: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(10, read=30),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def http(feed_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with async_client(feed_server.url) as client:
        yield client
