from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.fixtures import shared_server_fixture
from tests.support.server import ServerProcess

TO_ISO_STRING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


shared_server = shared_server_fixture("api")


@pytest.fixture(scope="package")
def http(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=10) as client:
        yield client


def new_id(prefix: str = "vm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def revision(http: httpx.Client) -> int:
    response = http.get("/health")
    assert response.status_code == 200
    value: int = response.json()["revision"]
    return value
