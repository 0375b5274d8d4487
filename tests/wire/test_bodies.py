from __future__ import annotations

from typing import Any

import pytest

from vm_registry.domain import validation
from vm_registry.domain.errors import Invalid
from vm_registry.wire import bodies

BASE: dict[str, Any] = {
    "id": "vm-1",
    "name": "billing",
    "role": "lieutenant",
    "address": "vm-1.vm.vers.sh",
    "registeredBy": "orchestrator",
}
ABSENT = object()


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def body_with(**changes: Any) -> dict[str, Any]:
    body = dict(BASE)
    for key, value in changes.items():
        if value is ABSENT:
            del body[key]
        else:
            body[key] = value
    return body


# (changes to a valid registration, the field the message must name, the message)
REGISTRATION_ERRORS: list[tuple[dict[str, Any], str, str]] = [
    ({"id": ABSENT}, "id", "id is required"),
    ({"name": ABSENT}, "name", "name is required"),
    ({"role": ABSENT}, "role", "role is required"),
    ({"address": ABSENT}, "address", "address is required"),
    ({"registeredBy": ABSENT}, "registeredBy", "registeredBy is required"),
    ({"id": 42}, "id", "id must be a string"),
    ({"id": None}, "id", "id must be a string"),
    ({"id": "   "}, "id", "id must not be empty"),
    ({"id": "x" * 257}, "id", "id must be at most 256 characters"),
    ({"id": "a/b"}, "id", "id must not contain '/'"),
    ({"id": "a\x00b"}, "id", "id must not contain control characters"),
    ({"id": "a\nb"}, "id", "id must not contain control characters"),
    ({"id": "a\x7fb"}, "id", "id must not contain control characters"),
    ({"id": "a\x85b"}, "id", "id must not contain control characters"),
    ({"id": ".."}, "id", "id must not be '.' or '..'"),
    ({"name": ""}, "name", "name must not be empty"),
    ({"name": " \t "}, "name", "name must not be empty"),
    ({"name": ["x"]}, "name", "name must be a string"),
    ({"name": "x" * 1025}, "name", "name must be at most 1024 characters"),
    ({"name": "bell\x07"}, "name", "name must not contain control characters"),
    ({"address": ""}, "address", "address must not be empty"),
    ({"address": 3000}, "address", "address must be a string"),
    ({"registeredBy": "  "}, "registeredBy", "registeredBy must not be empty"),
    ({"role": "boss"}, "role", "role must be one of infra, lieutenant, worker, golden, custom"),
    ({"role": "Worker"}, "role", "role must be one of"),
    ({"role": None}, "role", "role must be one of"),
    ({"status": "gone"}, "status", "status must be one of running, paused, stopped"),
    ({"status": None}, "status", "status must be one of"),
    ({"services": {"name": "x"}}, "services", "services must be an array"),
    ({"services": [{"name": "x", "port": 1}] * 65}, "services", "at most 64 items"),
    ({"services": ["rpc"]}, "services[0]", "services[0] must be an object"),
    ({"services": [{"port": 80}]}, "services[0].name", "services[0].name is required"),
    ({"services": [{"name": "rpc"}]}, "services[0].port", "services[0].port is required"),
    ({"services": [{"name": "", "port": 80}]}, "services[0].name", "must not be empty"),
    ({"services": [{"name": "a", "port": 0}]}, "services[0].port", "between 1 and 65535"),
    ({"services": [{"name": "a", "port": 65536}]}, "services[0].port", "between 1 and 65535"),
    ({"services": [{"name": "a", "port": 70000}]}, "services[0].port", "between 1 and 65535"),
    ({"services": [{"name": "a", "port": -1}]}, "services[0].port", "between 1 and 65535"),
    ({"services": [{"name": "a", "port": "80"}]}, "services[0].port", "must be an integer"),
    ({"services": [{"name": "a", "port": 80.0}]}, "services[0].port", "must be an integer"),
    ({"services": [{"name": "a", "port": True}]}, "services[0].port", "must be an integer"),
    (
        {"services": [{"name": "a", "port": 1}, {"name": "b", "port": 1, "healthPath": ""}]},
        "services[1].healthPath",
        "services[1].healthPath must not be empty",
    ),
    (
        {"services": [{"name": "a", "port": 1, "protocol": "tcp"}]},
        "services[0].protocol",
        "services[0].protocol is not a known field",
    ),
    ({"metadata": [1, 2]}, "metadata", "metadata must be a JSON object"),
    ({"metadata": "task"}, "metadata", "metadata must be a JSON object"),
    ({"metadata": 7}, "metadata", "metadata must be a JSON object"),
    ({"metadata": nested(33)}, "metadata", "metadata is nested deeper than 32 levels"),
    ({"metadata": nested(1000)}, "metadata", "metadata is nested deeper than 32 levels"),
    ({"colour": "blue"}, "colour", "colour is not a known field of a registration"),
    ({"registeredAt": "2025-01-01T00:00:00.000Z"}, "registeredAt", "is set by the server"),
    ({"lastSeen": "2025-01-01T00:00:00.000Z"}, "lastSeen", "is set by the server"),
    ({"revision": 3}, "revision", "revision is set by the server"),
]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ABSENT, "role": ABSENT}, "name and role are required"),
        (
            {"id": ABSENT, "role": ABSENT, "address": ABSENT},
            "id, role and address are required",
        ),
        (
            {"services": [{"healthPath": "/h"}]},
            "services[0].name and services[0].port are required",
        ),
    ],
)
def test_a_registration_missing_several_fields_names_all_of_them(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid) as raised:
        bodies.registration(body_with(**changes))
    assert raised.value.message == message


@pytest.mark.parametrize(("changes", "field", "message"), REGISTRATION_ERRORS)
def test_an_invalid_registration_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(Invalid) as raised:
        bodies.registration(body_with(**changes))
    assert message in raised.value.message
    assert field in raised.value.message


@pytest.mark.parametrize("body", [None, [], ["id"], "vm-1", 42, True])
def test_a_registration_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(Invalid, match="request body must be a JSON object"):
        bodies.registration(body)


RPC_SERVICE = {"name": "rpc", "port": 1, "healthPath": "/health"}
PORT_65535 = {"name": "b", "port": 65535}
REGISTRATION_ACCEPTED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {**BASE, "status": "running"}),
    (
        {"id": "  vm-1 ", "name": " billing\t", "address": " a ", "registeredBy": " me "},
        {**BASE, "address": "a", "registeredBy": "me", "status": "running"},
    ),
    ({"status": "paused"}, {**BASE, "status": "paused"}),
    ({"id": "x" * 256}, {**BASE, "id": "x" * 256, "status": "running"}),
    ({"id": "a%2Fb"}, {**BASE, "id": "a%2Fb", "status": "running"}),
    ({"name": "🚀 שלום עולם"}, {**BASE, "name": "🚀 שלום עולם", "status": "running"}),
    ({"services": None, "metadata": None}, {**BASE, "status": "running"}),
    (
        {"services": [{"name": " rpc ", "port": 1, "healthPath": "/health"}, PORT_65535]},
        {**BASE, "status": "running", "services": [RPC_SERVICE, PORT_65535]},
    ),
    ({"services": []}, {**BASE, "status": "running", "services": []}),
    (
        {"metadata": {"task": "invoices", "n": [1, {"x": None}]}},
        {**BASE, "status": "running", "metadata": {"task": "invoices", "n": [1, {"x": None}]}},
    ),
    ({"metadata": nested(32)}, {**BASE, "status": "running", "metadata": nested(32)}),
]


@pytest.mark.parametrize(("changes", "expected"), REGISTRATION_ACCEPTED)
def test_a_valid_registration_is_trimmed_and_defaulted(
    changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert bodies.registration(body_with(**changes)) == expected


UPDATE_ERRORS: list[tuple[Any, str, str]] = [
    ({"id": "vm-2"}, "id", "id is not updatable"),
    ({"role": "infra"}, "role", "role is not updatable"),
    ({"registeredBy": "me"}, "registeredBy", "registeredBy is not updatable"),
    ({"lastSeen": "2025-01-01T00:00:00.000Z"}, "lastSeen", "lastSeen is set by the server"),
    ({"registeredAt": "x"}, "registeredAt", "registeredAt is set by the server"),
    ({"colour": "blue"}, "colour", "colour is not a known field of an update"),
    ({"name": "  "}, "name", "name must not be empty"),
    ({"name": None}, "name", "name must be a string"),
    ({"address": ""}, "address", "address must not be empty"),
    ({"status": "running "}, "status", "status must be one of"),
    ({"services": [{"name": "a", "port": 0}]}, "services[0].port", "between 1 and 65535"),
    ({"metadata": []}, "metadata", "metadata must be a JSON object"),
    ({}, "name, status, address, services, metadata", "an update must set at least one of"),
]


@pytest.mark.parametrize(("body", "field", "message"), UPDATE_ERRORS)
def test_an_invalid_update_is_refused_naming_the_field(body: Any, field: str, message: str) -> None:
    with pytest.raises(Invalid) as raised:
        bodies.update(body)
    assert message in raised.value.message
    assert field in raised.value.message


@pytest.mark.parametrize("body", [None, [], "paused", 1])
def test_an_update_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(Invalid, match="request body must be a JSON object"):
        bodies.update(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": " new name "}, {"name": "new name"}),
        ({"address": "b.example"}, {"address": "b.example"}),
        ({"status": "stopped"}, {"status": "stopped"}),
        ({"services": None, "metadata": None}, {"services": None, "metadata": None}),
        ({"services": [RPC_SERVICE]}, {"services": [RPC_SERVICE]}),
        ({"metadata": {"reason": "saving"}}, {"metadata": {"reason": "saving"}}),
    ],
)
def test_a_valid_update_keeps_only_the_fields_sent(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert bodies.update(body) == expected


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        ("a/b", "role in the path", "role in the path must be one of"),
        ("a/b", "id in the path", "id in the path must not contain '/'"),
    ],
)
def test_messages_name_the_place_the_caller_gave(value: str, where: str, message: str) -> None:
    check = validation.role if where.startswith("role") else validation.vm_id
    with pytest.raises(Invalid) as raised:
        check(value, where)
    assert message in raised.value.message
