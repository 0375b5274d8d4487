"""Clients on a real server. Starting a server takes about a second, so most tests share one per
package and use fresh ids (`vm_id`); tests that need an empty fleet ask for `fresh_registry`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.fixtures import shared_server_fixture
from tests.support.server import ServerProcess
from vm_registry.client import AsyncRegistryClient, RegistryClient

shared_server = shared_server_fixture("shared")


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
