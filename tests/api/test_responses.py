"""litestar responses in the wire shapes: JSON bodies, the error shape, raw bytes."""

from __future__ import annotations

import orjson

from vm_registry.api import responses


def test_json_sets_the_body_status_and_headers() -> None:
    response = responses.json({"a": 1}, 201, {responses.REVISION_HEADER: "7"})
    assert response.status_code == 201
    assert orjson.loads(response.content) == {"a": 1}
    assert response.headers[responses.REVISION_HEADER] == "7"
    assert response.media_type == "application/json"


def test_an_error_is_one_field_named_error() -> None:
    response = responses.error("id is required", 400)
    assert response.status_code == 400
    assert orjson.loads(response.content) == {"error": "id is required"}


def test_raw_json_sends_the_bytes_as_they_are() -> None:
    response = responses.raw_json(b'{"vms":[],"count":0}')
    assert response.content == b'{"vms":[],"count":0}'
    assert response.status_code == 200
