"""Fixtures every test package shares, registered by the root conftest (`pytest_plugins`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess


def new_vm_id(prefix: str = "vm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def vm_id() -> str:
    """A VM id no other test uses, so tests can share a server."""
    return new_vm_id()


def server_fixture(
    name: str, *args: str, env: Mapping[str, str] | None = None, scope: Any = "module"
) -> Callable[..., Any]:
    """A fixture of one `serve` process with `args` (and `env`), started once per `scope` and
    killed after it: for modules (or packages) whose tests share a server configured their
    way. Assign it to the fixture's name: `server = server_fixture("ui", "--stale-after", "1")`.
    """

    @pytest.fixture(scope=scope)
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        db = tmp_path_factory.mktemp(name) / "registry.db"
        proc = ServerProcess(db, args=args, env=env).start()
        try:
            yield proc
        finally:
            proc.kill()

    return server


def shared_server_fixture(name: str, *args: str) -> Callable[..., Any]:
    """A package-scoped `shared_server` fixture for a conftest: one server for every test of
    the package that does not disturb the others (each uses ids of its own, none restarts
    it). Servers take a while to start on a busy machine."""
    return server_fixture(name, *args, scope="package")


def http_fixture(
    server: str = "server", *, token: str | None = None, timeout: float = 10, scope: Any = "module"
) -> Callable[..., Any]:
    """A fixture of one httpx client on the server fixture named `server` (with `token` as its
    bearer token, if given): `http = http_fixture(token=TOKEN)`."""

    @pytest.fixture(scope=scope)
    def http(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
        proc: ServerProcess = request.getfixturevalue(server)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=proc.url, timeout=timeout, headers=headers) as client:
            yield client

    return http
