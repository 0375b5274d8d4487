from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings

from tests.support import backend
from tests.support.fixtures import vm_id
from tests.support.server import ServerProcess

__all__ = ["vm_id"]  # a fixture for every package

# Property tests run beside real servers on a 2-core machine: how fast examples are generated
# or run says nothing about the properties, so neither slowness fails a test (max_examples
# still bounds every run).
settings.register_profile(
    "vm-registry", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("vm-registry")


def pytest_sessionfinish(session: pytest.Session) -> None:
    backend.drop_all()


def pytest_report_header() -> str:
    return f"registry backend: {backend.BACKEND} (VM_REGISTRY_TEST_BACKEND)"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def server(db_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(db_path).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def vm(vm_id: str = "vm-1", **overrides: object) -> dict[str, object]:
    """A valid registration body, as agents send it."""
    body: dict[str, object] = {
        "id": vm_id,
        "name": f"{vm_id}-name",
        "role": "worker",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
    }
    body.update(overrides)
    return body
