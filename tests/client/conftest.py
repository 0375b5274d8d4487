"""Clients on a real server. Starting a server takes about a second, so most tests share one per
package and use fresh ids (`vm_id`); tests that need an empty fleet ask for `fresh_registry`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.server import ServerProcess
from vm_registry.client import AsyncRegistryClient, RegistryClient


@pytest.fixture(scope="package")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("shared") / "registry.db").start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def vm_id() -> str:
    return f"vm-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def registry(shared_server: ServerProcess) -> Iterator[RegistryClient]:
    with RegistryClient(shared_server.url) as client:
        yield client


@pytest.fixture
async def aregistry(shared_server: ServerProcess) -> AsyncIterator[AsyncRegistryClient]:
    async with AsyncRegistryClient(shared_server.url) as client:
        yield client


@pytest.fixture
def fresh_registry(server: ServerProcess) -> Iterator[RegistryClient]:
    with RegistryClient(server.url) as client:
        yield client
