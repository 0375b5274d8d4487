from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

TO_ISO_STRING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="package")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for every test here that does not disturb the others: each uses ids of its
    own, and none restarts it. Servers take a while to start on a busy machine."""
    proc = ServerProcess(tmp_path_factory.mktemp("api") / "registry.db").start()
    try:
        yield proc
    finally:
        proc.kill()


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


def error_of(response: httpx.Response, status: int) -> str:
    """The message of an error answer, after checking its status and `{"error": ...}` shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: Any = response.json()
    assert isinstance(body, dict)
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert body["error"]
    message: str = body["error"]
    return message
