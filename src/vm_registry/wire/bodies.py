"""Request bodies, in the wire's camelCase, into clean field dicts for commands: which fields a
registration and an update may carry, which are the server's, and the services list. The values
themselves are checked by the domain's rules (`domain/validation.py`).

Every message names the field, so a client can fix its request without reading our source.
"""

from __future__ import annotations

from typing import Any, Final

from vm_registry.domain.errors import Invalid
from vm_registry.domain.model import JsonObject
from vm_registry.domain.validation import (
    MAX_ENTRY_BYTES,
    MAX_SERVICES,
    check_entry_size,
    metadata,
    port,
    role,
    status,
    text_field,
    vm_id,
)

REGISTER_REQUIRED: Final = ("id", "name", "role", "address", "registeredBy")
REGISTER_OPTIONAL: Final = ("status", "services", "metadata")
UPDATABLE: Final = ("name", "status", "address", "services", "metadata")
# Fields a registration sets once: an update naming one of them is refused as "not updatable",
# which tells the client more than "not a known field".
FIXED: Final = ("id", "role", "registeredBy")
SERVER_MANAGED: Final = ("registeredAt", "lastSeen", "revision", "stale", "health")
SERVICE_FIELDS: Final = ("name", "port", "healthPath")
_REGISTRATION_FIELDS: Final = frozenset(REGISTER_REQUIRED + REGISTER_OPTIONAL)


def services(value: Any, where: str = "services") -> list[JsonObject]:
    if not isinstance(value, list):
        raise Invalid(f"{where} must be an array")
    if len(value) > MAX_SERVICES:
        raise Invalid(f"{where} must have at most {MAX_SERVICES} items")
    cleaned: list[JsonObject] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise Invalid(f"{here} must be an object")
        for key in item:
            if key not in SERVICE_FIELDS:
                raise Invalid(f"{here}.{key} is not a known field")
        _require(item, ("name", "port"), f"{here}.")
        service: JsonObject = {
            "name": text_field(item["name"], f"{here}.name"),
            "port": port(item["port"], f"{here}.port"),
        }
        if "healthPath" in item:
            service["healthPath"] = text_field(item["healthPath"], f"{here}.healthPath")
        cleaned.append(service)
    return cleaned


def _require(body: JsonObject, fields: tuple[str, ...], prefix: str = "") -> None:
    """Name every missing field at once: a client fixing one at a time would need a round
    trip per field."""
    for key in fields:
        if key not in body:
            break
    else:
        return  # the usual case, found without building the list below
    missing = [f"{prefix}{key}" for key in fields if key not in body]
    if len(missing) == 1:
        raise Invalid(f"{missing[0]} is required")
    if missing:
        raise Invalid(f"{', '.join(missing[:-1])} and {missing[-1]} are required")


def _reject_unknown(body: JsonObject, allowed: frozenset[str], what: str) -> None:
    for key in body:
        if key in SERVER_MANAGED:
            raise Invalid(f"{key} is set by the server and cannot be sent")
        if key not in allowed:
            raise Invalid(f"{key} is not a known field of {what}")


def registration(body: Any, max_entry_bytes: int = MAX_ENTRY_BYTES) -> JsonObject:
    """The event data of a registration: trimmed, checked, and in a stable key order."""
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    _reject_unknown(body, _REGISTRATION_FIELDS, "a registration")
    _require(body, REGISTER_REQUIRED)
    data: JsonObject = {
        "id": vm_id(body["id"]),
        "name": text_field(body["name"], "name"),
        "role": role(body["role"]),
        "status": status(body["status"]) if "status" in body else "running",
        "address": text_field(body["address"], "address"),
        "registeredBy": text_field(body["registeredBy"], "registeredBy"),
    }
    if body.get("services") is not None:
        data["services"] = services(body["services"])
    if body.get("metadata") is not None:
        data["metadata"] = metadata(body["metadata"])
    check_entry_size(data.get("services"), data.get("metadata"), max_entry_bytes)
    return data


def update(body: Any, max_entry_bytes: int = MAX_ENTRY_BYTES) -> JsonObject:
    """The event data of an update: only the fields sent. `null` clears services or metadata.
    What is sent must fit the entry limit by itself; with what the entry keeps, it is checked
    again when the update is decided (`commands.decide`)."""
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    for key in body:
        if key in SERVER_MANAGED:
            raise Invalid(f"{key} is set by the server and cannot be sent")
        if key in FIXED:
            raise Invalid(f"{key} is not updatable")
        if key not in UPDATABLE:
            raise Invalid(f"{key} is not a known field of an update")
    if not body:
        raise Invalid("an update must set at least one of " + ", ".join(UPDATABLE))
    data: JsonObject = {}
    if "name" in body:
        data["name"] = text_field(body["name"], "name")
    if "status" in body:
        data["status"] = status(body["status"])
    if "address" in body:
        data["address"] = text_field(body["address"], "address")
    if "services" in body:
        data["services"] = None if body["services"] is None else services(body["services"])
    if "metadata" in body:
        data["metadata"] = None if body["metadata"] is None else metadata(body["metadata"])
    check_entry_size(data.get("services"), data.get("metadata"), max_entry_bytes)
    return data
