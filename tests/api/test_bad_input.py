"""Bad input for each validation rule: a 400 naming the field, and nothing written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import new_id, revision
from tests.conftest import vm
from tests.support.answers import error_of

ABSENT = object()


def deep_metadata_json(vm_id: str, depth: int) -> bytes:
    """Built as text: the json module itself cannot write something this deep."""
    head = json.dumps(vm(vm_id))[:-1]
    metadata = '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)
    return f'{head}, "metadata": {metadata}}}'.encode()


# (changes to a valid registration, text the error must contain)
REGISTRATIONS: list[tuple[dict[str, Any], str]] = [
    ({"id": ABSENT}, "id is required"),
    ({"name": ABSENT}, "name is required"),
    ({"role": ABSENT}, "role is required"),
    ({"address": ABSENT}, "address is required"),
    ({"registeredBy": ABSENT}, "registeredBy is required"),
    (
        {"name": ABSENT, "address": ABSENT, "registeredBy": ABSENT},
        "name, address and registeredBy are required",
    ),
    ({"id": ""}, "id must not be empty"),
    ({"id": " \t "}, "id must not be empty"),
    ({"id": 7}, "id must be a string"),
    ({"id": "a/b"}, "id must not contain '/'"),
    ({"id": "/"}, "id must not contain '/'"),
    ({"id": "x" * 257}, "id must be at most 256 characters"),
    ({"id": "tab\there"}, "id must not contain control characters"),
    ({"id": "nul\u0000"}, "id must not contain control characters"),
    ({"id": "esc\u001b[31m"}, "id must not contain control characters"),
    ({"id": "del\u007f"}, "id must not contain control characters"),
    ({"name": ""}, "name must not be empty"),
    ({"name": "   "}, "name must not be empty"),
    ({"name": 12}, "name must be a string"),
    ({"address": None}, "address must be a string"),
    ({"registeredBy": ""}, "registeredBy must not be empty"),
    ({"role": "boss"}, "role must be one of infra, lieutenant, worker, golden, custom"),
    ({"status": "asleep"}, "status must be one of running, paused, stopped"),
    ({"services": "pi-rpc:3001"}, "services must be an array"),
    ({"services": [3001]}, "services[0] must be an object"),
    ({"services": [{"name": "rpc", "port": 0}]}, "services[0].port must be between 1 and 65535"),
    ({"services": [{"name": "a", "port": 70000}]}, "services[0].port must be between 1 and 65535"),
    ({"services": [{"name": "a", "port": "80"}]}, "services[0].port must be an integer"),
    ({"services": [{"name": "a", "port": 80.5}]}, "services[0].port must be an integer"),
    ({"services": [{"name": "a"}]}, "services[0].port is required"),
    ({"services": [{"port": 80}]}, "services[0].name is required"),
    ({"services": [{"name": "a", "port": 1, "tls": True}]}, "services[0].tls"),
    ({"metadata": ["a", "b"]}, "metadata must be a JSON object"),
    ({"metadata": "task"}, "metadata must be a JSON object"),
    ({"colour": "blue"}, "colour"),
    ({"vmId": "x"}, "vmId"),
    ({"registeredAt": "2020-01-01T00:00:00.000Z"}, "registeredAt"),
    ({"lastSeen": "2020-01-01T00:00:00.000Z"}, "lastSeen"),
]


@pytest.mark.parametrize(("changes", "message"), REGISTRATIONS)
def test_an_invalid_registration_is_400_and_writes_nothing(
    http: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    vm_id = new_id("bad")
    body = vm(vm_id)
    for key, value in changes.items():
        if value is ABSENT:
            del body[key]
        else:
            body[key] = value
    before = revision(http)
    response = http.post("/registry/vms", json=body)
    assert message in error_of(response, 400)
    assert revision(http) == before
    assert http.get(f"/registry/vms/{vm_id}").status_code == 404


def test_metadata_nested_1000_deep_is_400_and_the_server_lives_on(http: httpx.Client) -> None:
    vm_id = new_id("deep")
    before = revision(http)
    response = http.post(
        "/registry/vms",
        content=deep_metadata_json(vm_id, 1000),
        headers={"content-type": "application/json"},
    )
    assert "metadata" in error_of(response, 400)
    assert revision(http) == before
    assert http.get("/health").json()["status"] == "ok"
    shallow = http.post(
        "/registry/vms",
        content=deep_metadata_json(vm_id, 10),
        headers={"content-type": "application/json"},
    )
    assert shallow.status_code == 201


def test_a_body_nested_beyond_the_json_parser_is_400(http: httpx.Client) -> None:
    before = revision(http)
    response = http.post(
        "/registry/vms",
        content=b"[" * 90_000 + b"]" * 90_000,  # within the 192 KiB a write may take
        headers={"content-type": "application/json"},
    )
    error_of(response, 400)
    assert revision(http) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "other"}, "id is not updatable"),
        ({"role": "infra"}, "role is not updatable"),
        ({"registeredBy": "someone else"}, "registeredBy is not updatable"),
        ({"registeredAt": "2020-01-01T00:00:00.000Z"}, "registeredAt"),
        ({"lastSeen": "2020-01-01T00:00:00.000Z"}, "lastSeen"),
        ({"status": "paused", "colour": "blue"}, "colour"),
        ({}, "at least one of"),
        ({"name": "  "}, "name must not be empty"),
        ({"address": 5}, "address must be a string"),
        ({"status": "gone"}, "status must be one of"),
        ({"services": [{"name": "a", "port": 0}]}, "services[0].port must be between 1 and 65535"),
        ({"metadata": [1]}, "metadata must be a JSON object"),
    ],
)
def test_an_invalid_update_is_400_and_changes_nothing(
    http: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    vm_id = new_id()
    created = http.post("/registry/vms", json=vm(vm_id)).json()
    before = revision(http)
    response = http.patch(f"/registry/vms/{vm_id}", json=changes)
    assert message in error_of(response, 400)
    assert revision(http) == before
    assert http.get(f"/registry/vms/{vm_id}").json() == created


@pytest.mark.parametrize(
    "path",
    [
        "/registry/vms/a%2Fb",  # an escaped '/' is still a '/': no such id can exist
        "/registry/vms/a%00b",
        "/registry/vms/" + "x" * 257,
    ],
)
def test_ids_that_cannot_be_registered_are_not_found(http: httpx.Client, path: str) -> None:
    error_of(http.get(path), 404)
    error_of(http.post(f"{path}/heartbeat"), 404)
