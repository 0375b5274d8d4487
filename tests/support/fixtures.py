"""Fixtures every test package shares, registered by the root conftest (`pytest_plugins`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.server import ServerProcess


def new_vm_id(prefix: str = "vm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def vm_id() -> str:
    """A VM id no other test uses, so tests can share a server."""
    return new_vm_id()


def server_fixture(name: str, *args: str, scope: Any = "module") -> Callable[..., Any]:
    """A fixture of one `serve` process with `args`, started once per `scope` and killed
    after it: for modules (or packages) whose tests share a server configured their way."""

    @pytest.fixture(scope=scope)
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        proc = ServerProcess(tmp_path_factory.mktemp(name) / "registry.db", args=args).start()
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
