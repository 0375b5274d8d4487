"""What the REST contract's OpenAPI document must hold: every operation, its request body, the
statuses it answers, its query and header parameters, and the links for stateful fuzzing.

The shapes themselves have one definition, in the app (`api/schemas.py`, checked against the
server's validation by `tests/api/test_schemas_match_validation.py`); schemathesis fuzzes the
app's own document. This is the checklist that the document leaves nothing out:
`gaps(app_schema)` names whatever is missing or still litestar's placeholder.
"""

from __future__ import annotations

from typing import Any

from vm_registry.domain.validation import MAX_ID_LENGTH

__all__ = ["MAX_ID_LENGTH", "OPERATIONS", "gaps"]

Json = dict[str, Any]

LIST_QUERY = ("role", "status", "at", "asOf")
PAGE_QUERY = ("after", "limit")

# operationId -> (has a request body, statuses answered, query and header parameters)
OPERATIONS: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {
    "HealthHealth": (False, ("200",), ()),
    "RegistryVmsRegister": (True, ("201", "400", "409"), ()),
    "RegistryVmsListVms": (False, ("200", "400", "410"), LIST_QUERY),
    "RegistryVmsVmIdGetVm": (False, ("200", "400", "404", "410"), ("at", "asOf")),
    "RegistryVmsVmIdUpdateVm": (True, ("200", "400", "404", "412"), ("If-Match",)),
    "RegistryVmsVmIdDeregisterVm": (False, ("200", "400", "404", "412"), ("If-Match",)),
    "RegistryVmsVmIdHeartbeatHeartbeat": (False, ("200", "404"), ()),
    "RegistryDiscoverRoleDiscover": (False, ("200", "400", "404"), ()),
    "RegistryEventsListEvents": (
        False,
        ("200", "400", "410"),
        ("after", "limit", "vm", "type", "since", "until"),
    ),
    "RegistryVmsVmIdHistoryVmHistory": (False, ("200", "400", "404", "410"), PAGE_QUERY),
}
# Writes may always meet a full disk or a locked database.
UNAVAILABLE = (
    "RegistryVmsRegister",
    "RegistryVmsVmIdUpdateVm",
    "RegistryVmsVmIdDeregisterVm",
    "RegistryVmsVmIdHeartbeatHeartbeat",
)
WITH_BODY = ("RegistryVmsRegister", "RegistryVmsVmIdUpdateVm")

# Operations whose success answer links to the next ones, for stateful fuzzing.
LINKED = (
    "RegistryVmsRegister",
    "RegistryVmsVmIdUpdateVm",
    "RegistryVmsVmIdHeartbeatHeartbeat",
)


def _is_placeholder(response: Json) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    # `Response[bytes]` becomes a string; litestar's own 400 is `{status_code, detail}`.
    return schema == {"type": "string"} or "status_code" in schema.get("properties", {})


def gaps(app_schema: Json) -> list[str]:
    """What the app's document leaves out of the contract; empty when it documents it all."""
    missing: list[str] = []
    operations = {
        op["operationId"]: op
        for path in app_schema["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for op_id, (body, statuses, parameters) in OPERATIONS.items():
        op = operations.get(op_id)
        if op is None:
            missing.append(f"{op_id}: the operation itself")
            continue
        if body and "requestBody" not in op:
            missing.append(f"{op_id}: request body")
        wanted = list(statuses)
        if op_id in UNAVAILABLE:
            wanted.append("503")
        if op_id in WITH_BODY:
            wanted.append("413")
        documented = op.get("responses", {})
        for status in wanted:
            if status not in documented or _is_placeholder(documented[status]):
                missing.append(f"{op_id}: {status} response")
        for parameter in op.get("parameters", []):
            if parameter["name"] in ("vm_id", "role") and parameter.get("schema") == {
                "type": "string"
            }:
                missing.append(f"{op_id}: what {parameter['name']} may hold")
        known = {p["name"] for p in op.get("parameters", [])}
        missing.extend(f"{op_id}: parameter {name}" for name in parameters if name not in known)
        success = next(s for s in wanted if s.startswith("2"))
        if op_id in LINKED and "links" not in documented.get(success, {}):
            missing.append(f"{op_id}: links")
    for op in operations.values():
        for status, response in op.get("responses", {}).items():
            if _is_placeholder(response):
                missing.append(f"{op['operationId']} {status}: litestar's default error shape")
    return missing
