"""The REST contract as OpenAPI, for what the app's generated schema cannot say yet.

The routes parse their bodies by hand and return prebuilt `Response[bytes]`, so litestar's
schema has no request bodies, no query parameters, every success documented as
`{"type": "string"}`, errors as litestar's own `{status_code, detail}` shape, and no links.
`overlay(app_schema)` fills exactly those gaps from the tables below and says which it filled;
whatever the app's schema does document is kept as it is. When the app documents everything,
the overlay fills nothing (tests/hostile/test_schema.py tracks that).
"""

from __future__ import annotations

import copy
from typing import Any

from vm_registry.domain.events import EVENT_TYPES
from vm_registry.domain.model import ROLES, STATUSES
from vm_registry.domain.validation import MAX_ID_LENGTH, MAX_SERVICES, MAX_STRING_LENGTH

Json = dict[str, Any]

_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Exactly what Python's str.strip() removes, spelled out: `\s` means different things to the
# generator (Python) and the validator (Rust), and \x1c-\x1f sit on the line between them.
_SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _trimmed(most: int, also_not: str = "") -> str:
    """A regex for text the server accepts: surrounding whitespace is trimmed, and what is left
    is 1 to `most` characters, without control characters (nor `also_not`). maxLength cannot
    say this: it would count the whitespace the server trims away."""
    edge = rf"[^{_SPACE}{also_not}{_CONTROL}]"
    inner = rf"[^{also_not}{_CONTROL}]{{0,{most - 2}}}"
    return rf"^[{_SPACE}]*{edge}(?:{inner}{edge})?[{_SPACE}]*$"


TEXT: Json = {"type": "string", "pattern": _trimmed(MAX_STRING_LENGTH)}
# No '/'. (Nor "." or "..", which a regex without lookahead cannot say; the server refuses them.)
VM_ID: Json = {"type": "string", "pattern": _trimmed(MAX_ID_LENGTH, "/")}
TIME: Json = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}
SERVICE: Json = {
    "type": "object",
    "required": ["name", "port"],
    "properties": {
        "name": TEXT,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "healthPath": TEXT,
    },
    "additionalProperties": False,
}
SERVICES: Json = {"type": "array", "items": SERVICE, "maxItems": MAX_SERVICES}
METADATA: Json = {"type": "object"}

REGISTRATION: Json = {
    "type": "object",
    "required": ["id", "name", "role", "address", "registeredBy"],
    "properties": {
        "id": VM_ID,
        "name": TEXT,
        "role": {"enum": list(ROLES)},
        "status": {"enum": list(STATUSES)},
        "address": TEXT,
        "registeredBy": TEXT,
        # null is accepted as "not given" at registration, and clears them in an update.
        "services": {"anyOf": [SERVICES, {"type": "null"}]},
        "metadata": {"anyOf": [METADATA, {"type": "null"}]},
    },
    "additionalProperties": False,
}
UPDATE: Json = {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "name": TEXT,
        "status": {"enum": list(STATUSES)},
        "address": TEXT,
        "services": {"anyOf": [SERVICES, {"type": "null"}]},
        "metadata": {"anyOf": [METADATA, {"type": "null"}]},
    },
    "additionalProperties": False,
}
ENTRY: Json = {
    "type": "object",
    "required": [
        "id",
        "name",
        "role",
        "status",
        "address",
        "registeredBy",
        "registeredAt",
        "lastSeen",
        "revision",
        "stale",
    ],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "status": {"enum": list(STATUSES)},
        "address": {"type": "string"},
        "services": {"type": "array", "items": SERVICE},
        "metadata": {"type": "object"},
        "registeredBy": {"type": "string"},
        "registeredAt": TIME,
        "lastSeen": TIME,
        "revision": {"type": "integer", "minimum": 1},
        "stale": {"type": "boolean"},
        "health": {
            "type": "object",
            "additionalProperties": {"enum": ["passing", "critical"]},
        },
    },
    "additionalProperties": False,
}
ENTRIES: Json = {
    "type": "object",
    "required": ["vms", "count"],
    "properties": {"vms": {"type": "array", "items": ENTRY}, "count": {"type": "integer"}},
    "additionalProperties": False,
}
EVENT: Json = {
    "type": "object",
    "required": ["seq", "type", "vmId", "at", "actor", "data"],
    "properties": {
        "seq": {"type": "integer", "minimum": 1},
        "type": {"enum": list(EVENT_TYPES)},
        "vmId": {"type": "string"},
        "at": TIME,
        "actor": {"type": "object"},
        "data": {"type": "object"},
    },
    "additionalProperties": False,
}
EVENTS: Json = {
    "type": "object",
    "required": ["events", "count"],
    "properties": {
        "events": {"type": "array", "items": EVENT},
        "count": {"type": "integer"},
        "next": {"type": "integer"},
    },
    "additionalProperties": False,
}
DELETED: Json = {
    "type": "object",
    "required": ["deleted", "id", "revision"],
    "properties": {
        "deleted": {"const": True},
        "id": {"type": "string"},
        "revision": {"type": "integer"},
    },
    "additionalProperties": False,
}
BEAT: Json = {
    "type": "object",
    "required": ["id", "lastSeen", "revision"],
    "properties": {"id": {"type": "string"}, "lastSeen": TIME, "revision": {"type": "integer"}},
    "additionalProperties": False,
}
HEALTH: Json = {
    "type": "object",
    "required": ["status", "revision", "vms"],
    "properties": {
        "status": {"const": "ok"},
        "revision": {"type": "integer"},
        "vms": {"type": "integer"},
    },
}
ERROR: Json = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}

SEQ: Json = {"type": "integer", "minimum": 0}
ISO: Json = {"type": "string", "format": "date-time"}
IF_MATCH: Json = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": r'^(W/)?"*[0-9]+"*$'},
}


def _query(name: str, schema: Json) -> Json:
    return {"name": name, "in": "query", "required": False, "schema": schema}


LIST_QUERY = [
    # An empty value is no filter at all: the route never sees it.
    _query("role", {"enum": [*ROLES, ""]}),
    _query("status", {"enum": [*STATUSES, ""]}),
    _query("at", SEQ),
    _query("asOf", ISO),
]
PAGE_QUERY = [_query("after", SEQ), _query("limit", {"type": "integer", "minimum": 1})]

# operationId -> (request body, {status: response body}, extra parameters)
OPERATIONS: dict[str, tuple[Json | None, dict[str, Json], list[Json]]] = {
    "HealthHealth": (None, {"200": HEALTH}, []),
    "RegistryVmsRegister": (REGISTRATION, {"201": ENTRY, "400": ERROR, "409": ERROR}, []),
    "RegistryVmsListVms": (None, {"200": ENTRIES, "400": ERROR, "410": ERROR}, LIST_QUERY),
    "RegistryVmsVmIdGetVm": (
        None,
        {"200": ENTRY, "400": ERROR, "404": ERROR, "410": ERROR},
        [_query("at", SEQ), _query("asOf", ISO)],
    ),
    "RegistryVmsVmIdUpdateVm": (
        UPDATE,
        {"200": ENTRY, "400": ERROR, "404": ERROR, "412": ERROR},
        [IF_MATCH],
    ),
    "RegistryVmsVmIdDeregisterVm": (
        None,
        {"200": DELETED, "400": ERROR, "404": ERROR, "412": ERROR},
        [IF_MATCH],
    ),
    "RegistryVmsVmIdHeartbeatHeartbeat": (None, {"200": BEAT, "404": ERROR}, []),
    "RegistryDiscoverRoleDiscover": (None, {"200": ENTRIES, "400": ERROR, "404": ERROR}, []),
    "RegistryEventsListEvents": (
        None,
        {"200": EVENTS, "400": ERROR, "410": ERROR},
        [
            _query("after", SEQ),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            _query("vm", {"type": "string"}),
            _query("type", {"type": "string"}),
            _query("since", ISO),
            _query("until", ISO),
        ],
    ),
    "RegistryVmsVmIdHistoryVmHistory": (
        None,
        {"200": EVENTS, "400": ERROR, "404": ERROR, "410": ERROR},
        PAGE_QUERY,
    ),
}
# Writes may always meet a full disk or a locked database.
UNAVAILABLE = (
    "RegistryVmsRegister",
    "RegistryVmsVmIdUpdateVm",
    "RegistryVmsVmIdDeregisterVm",
    "RegistryVmsVmIdHeartbeatHeartbeat",
)
WITH_BODY = ("RegistryVmsRegister", "RegistryVmsVmIdUpdateVm")

_BY_ID = {"parameters": {"vm_id": "$response.body#/id"}}
LINKS: dict[str, Json] = {
    "RegistryVmsRegister": {
        "GetVm": {"operationId": "RegistryVmsVmIdGetVm", **_BY_ID},
        "UpdateVm": {
            "operationId": "RegistryVmsVmIdUpdateVm",
            "parameters": {
                "vm_id": "$response.body#/id",
                "header.If-Match": "$response.header.ETag",
            },
        },
        "Heartbeat": {"operationId": "RegistryVmsVmIdHeartbeatHeartbeat", **_BY_ID},
        "History": {"operationId": "RegistryVmsVmIdHistoryVmHistory", **_BY_ID},
        "Deregister": {"operationId": "RegistryVmsVmIdDeregisterVm", **_BY_ID},
    },
    "RegistryVmsVmIdUpdateVm": {
        "UpdateAgain": {
            "operationId": "RegistryVmsVmIdUpdateVm",
            "parameters": {
                "vm_id": "$response.body#/id",
                "header.If-Match": "$response.header.ETag",
            },
        },
        "Deregister": {"operationId": "RegistryVmsVmIdDeregisterVm", **_BY_ID},
    },
    "RegistryVmsVmIdHeartbeatHeartbeat": {
        "GetVm": {"operationId": "RegistryVmsVmIdGetVm", **_BY_ID},
    },
}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _is_placeholder(response: Json) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    # `Response[bytes]` becomes a string; litestar's own 400 is `{status_code, detail}`.
    return schema == {"type": "string"} or "status_code" in schema.get("properties", {})


def overlay(app_schema: Json, base_url: str) -> tuple[Json, list[str]]:
    """The app's schema with the contract filling its gaps, and a list of what was filled."""
    schema = copy.deepcopy(app_schema)
    schema["servers"] = [{"url": base_url}]
    filled: list[str] = []
    operations = {
        op["operationId"]: op
        for path in schema["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for op_id, (body, responses, parameters) in OPERATIONS.items():
        op = operations.get(op_id)
        if op is None:
            filled.append(f"{op_id}: the operation itself")
            continue
        if body is not None and "requestBody" not in op:
            op["requestBody"] = {"required": True, "content": _json(body)}
            filled.append(f"{op_id}: request body")
        wanted = dict(responses)
        if op_id in UNAVAILABLE:
            wanted["503"] = ERROR
        if op_id in WITH_BODY:
            wanted["413"] = ERROR
        documented = op.setdefault("responses", {})
        for status, response_schema in wanted.items():
            current = documented.get(status)
            if current is None or _is_placeholder(current):
                documented[status] = {"description": status, "content": _json(response_schema)}
                filled.append(f"{op_id}: {status} response")
        for parameter in op.get("parameters", []):
            if parameter.get("schema") != {"type": "string"}:
                continue
            if parameter["name"] == "vm_id":
                parameter["schema"] = VM_ID  # "any string" would include '/' and ""
                filled.append(f"{op_id}: what an id may hold")
            elif parameter["name"] == "role":
                parameter["schema"] = {"enum": list(ROLES)}
                filled.append(f"{op_id}: the roles")
        known = {(p["name"], p["in"]) for p in op.get("parameters", [])}
        for parameter in parameters:
            if (parameter["name"], parameter["in"]) not in known:
                op.setdefault("parameters", []).append(parameter)
                filled.append(f"{op_id}: parameter {parameter['name']}")
        success = next(s for s in wanted if s.startswith("2"))
        if op_id in LINKS and "links" not in documented[success]:
            documented[success]["links"] = LINKS[op_id]
            filled.append(f"{op_id}: links")
    for status_map in (op["responses"] for op in operations.values()):
        for status, response in list(status_map.items()):
            if _is_placeholder(response):
                status_map[status] = {"description": status, "content": _json(ERROR)}
                filled.append(f"{status}: litestar's default error shape")
    return schema, filled
