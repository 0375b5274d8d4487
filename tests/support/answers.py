"""Checking the shape of the registry's answers."""

from __future__ import annotations

from typing import Any

import httpx


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
