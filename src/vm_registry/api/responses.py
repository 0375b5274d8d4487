"""litestar responses in the wire shapes (`vm_registry.wire`): JSON bodies, the `{"error"}`
shape, and the revision header. Handlers import rendering from here too, so one module names
everything a route needs to answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from litestar import Response
from litestar.enums import MediaType

from vm_registry.api.hot import Answer, str_headers
from vm_registry.domain.timestamps import to_iso
from vm_registry.wire.render import EntryRenderer, entry, event

__all__ = [
    "REVISION_HEADER",
    "EntryRenderer",
    "answer",
    "entry",
    "error",
    "event",
    "json",
    "raw_json",
    "to_iso",
]

REVISION_HEADER = "X-Registry-Revision"


def json(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=orjson.dumps(body),
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=dict(headers or {}),
    )


def error(
    message: str, status_code: int, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    return json({"error": message}, status_code, headers)


def raw_json(
    body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=body,
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=dict(headers or {}),
    )


def answer(worked_out: Answer) -> Response[bytes]:
    """A hot route's answer (`api/hot.py`) as litestar's response: the lean path's bytes."""
    status, body, headers = worked_out
    return raw_json(body, status, str_headers(headers))
