"""What each route's OpenAPI operation says beyond what litestar reads from its signature.

The handlers read their query parameters, If-Match and body by hand (`api.request_inputs`), so that
every refusal is `{"error": ...}` naming the field; litestar's own parsing would answer in its
own words. So the handler signatures stay as they are, and each route decorator passes
`responses=answers(...)`, every status it can answer with its shape from `api.schemas`, and
`operation_class=operation(...)`, which adds the parameters, the request body, the response
headers and the links. Links name litestar's generated operation ids, and
tests/hostile/test_schema.py follows them.

The change feed (`/registry/stream`) is left out of the document: an event
stream never ends, which OpenAPI cannot describe and a fuzzer cannot wait for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.params import Parameter as ParameterKwarg

from vm_registry.api import schemas
from vm_registry.domain.model import ROLES, STATUSES

ERRORS: dict[int, str] = {
    400: "The request is invalid; the message names the field or parameter.",
    401: "The server has tokens, and the bearer token is missing or unknown.",
    403: "The token may not do this: it is read-only, or the VM is another agent's.",
    404: "No such VM, or no such route.",
    409: "A VM with this id is already registered.",
    410: "That part of the log was compacted away.",
    412: "If-Match names a revision the entry has since moved past.",
    413: "The body, or the entry it would make, is larger than the server's limit.",
    503: "The log cannot be written just now (disk full, read-only, locked); retry.",
    507: "The registry holds as many VMs as it is configured to (--max-vms).",
}


def answers(status: int, shape: Any, description: str, *errors: int) -> dict[int, ResponseSpec]:
    table = {status: ResponseSpec(shape, description=description, generate_examples=False)}
    for code in errors:
        table[code] = ResponseSpec(schemas.Error, description=ERRORS[code], generate_examples=False)
    return table


# Security: optional in the document because it is optional on the server. With no tokens
# configured the API is open; with tokens, every route but /health wants one.
BEARER = "bearer"
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="Required on every route but /health when the server has tokens "
            "(VERS_AUTH_TOKEN, or scoped tokens); a server without tokens is open.",
        )
    }
)
SECURITY: list[SecurityRequirement] = [{BEARER: []}, {}]
OPEN: list[SecurityRequirement] = [{}]

# Path parameters, as handler annotations: they only add to the document, litestar still takes
# any string, and the handlers answer for the rest (404 for an id that cannot exist).
VmId = Annotated[
    str, ParameterKwarg(description="the VM's id", schema_extra={"pattern": schemas.VM_ID_PATTERN})
]
RoleName = Annotated[str, ParameterKwarg(schema_extra={"enum": list(ROLES)})]


def _query(name: str, schema: Schema, description: str, *, empty: bool = False) -> Parameter:
    return Parameter(
        name=name,
        param_in="query",
        schema=schema,
        description=description,
        allow_empty_value=empty,
    )


AT = _query("at", schemas.SEQ, "answer from the state right after this seq")
MIN_REVISION = _query(
    "minRevision",
    schemas.SEQ,
    "answer once this replica has folded this revision (read your writes across replicas; "
    "header twin X-Registry-Min-Revision); 503 with Retry-After if it takes too long",
)
AS_OF = _query("asOf", schemas.ISO_TIME, "answer from the state at this time (not with at)")
# The filters take `?role=` as no filter at all, as the registry agents use today does (its
# scripts send `?role=$ROLE` with the variable unset). The selector takes an empty value too
# (it selects everything, as in Kubernetes); every other parameter refuses one.
ROLE = _query(
    "role", Schema(type=OpenAPIType.STRING, enum=list(ROLES)), "only this role", empty=True
)
STATUS = _query(
    "status", Schema(type=OpenAPIType.STRING, enum=list(STATUSES)), "only this status", empty=True
)
SELECTOR = _query(
    "selector",
    Schema(type=OpenAPIType.STRING, max_length=4096),
    "only VMs whose metadata matches this label selector, such as "
    "`region=eu,gpu.model in (a100,h100),!spot` (docs/feed.md, Selectors)",
    empty=True,
)
HEALTHY = _query(
    "healthy",
    Schema(type=OpenAPIType.STRING, enum=["true", "false", "1", "0"]),
    "true leaves out VMs with a critical service (docs/health.md)",
)
INDEX = _query(
    "index",
    Schema(type=OpenAPIType.INTEGER, minimum=0),
    "hold the answer until it changes after this X-Registry-Revision (docs/health.md)",
)
WAIT = _query(
    "wait",
    Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]+(\.[0-9]+)?(ms|s|m)?$"),
    "longest hold with index, e.g. 30s (default and cap 5m)",
)
AFTER = _query("after", schemas.SEQ, "events after this seq (the previous page's next)")
LIMIT = _query("limit", Schema(type=OpenAPIType.INTEGER, minimum=1), "at most this many events")
PAGE_LIMIT = _query(
    "limit", Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=1000), "at most this many events"
)
VM = _query("vm", schemas.VM_ID, "only this VM's events")
TYPES = _query(
    "type",
    Schema(type=OpenAPIType.STRING, pattern=schemas.EVENT_TYPES_PATTERN),
    "only these event types, comma-separated",
)
SINCE = _query("since", schemas.ISO_TIME, "events at or after this time")
UNTIL = _query("until", schemas.ISO_TIME, "events at or before this time")
IF_MATCH = Parameter(
    name="If-Match",
    param_in="header",
    schema=Schema(type=OpenAPIType.STRING, pattern=schemas.IF_MATCH_PATTERN),
    description='act only if the entry is still at this revision (its ETag, "42")',
)

# Response headers.

_DIGITS = Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]+$")
REVISION = {
    "X-Registry-Revision": OpenAPIHeader(
        schema=_DIGITS, required=True, description="the seq of the log this answer reflects"
    )
}
ENTRY_HEADERS = {
    **REVISION,
    "ETag": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, pattern=r'^"[0-9]+"$'),
        required=True,
        description="the entry's revision, quoted: send it back as If-Match",
    ),
}
_ERROR_HEADERS = {
    "401": {
        "WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), required=True)
    },
    "503": {
        "Retry-After": OpenAPIHeader(
            schema=_DIGITS, required=True, description="seconds to wait before retrying"
        )
    },
}

# Links: what a client can do next with the id it was given.

GET_VM = "RegistryVmsVmIdGetVm"
UPDATE_VM = "RegistryVmsVmIdUpdateVm"
DEREGISTER_VM = "RegistryVmsVmIdDeregisterVm"
HEARTBEAT = "RegistryVmsVmIdHeartbeatHeartbeat"
VM_HISTORY = "RegistryVmsVmIdHistoryVmHistory"

_BY_ID = {"vm_id": "$response.body#/id"}
_CONDITIONALLY = {**_BY_ID, "header.If-Match": "$response.header.ETag"}
AFTER_REGISTER = {
    "GetVm": Link(operation_id=GET_VM, parameters=_BY_ID),
    "UpdateVm": Link(operation_id=UPDATE_VM, parameters=_CONDITIONALLY),
    "Heartbeat": Link(operation_id=HEARTBEAT, parameters=_BY_ID),
    "History": Link(operation_id=VM_HISTORY, parameters=_BY_ID),
    "Deregister": Link(operation_id=DEREGISTER_VM, parameters=_BY_ID),
}
AFTER_UPDATE = {
    "UpdateAgain": Link(operation_id=UPDATE_VM, parameters=_CONDITIONALLY),
    "Deregister": Link(operation_id=DEREGISTER_VM, parameters=_BY_ID),
}
AFTER_HEARTBEAT = {"GetVm": Link(operation_id=GET_VM, parameters=_BY_ID)}


def operation(
    *,
    body: Schema | None = None,
    parameters: Sequence[Parameter] = (),
    headers: Mapping[str, OpenAPIHeader] | None = None,
    links: Mapping[str, Link] | None = None,
) -> type[Operation]:
    """An `operation_class` for one route: litestar's operation, plus what its signature
    cannot show."""

    @dataclass
    class Documented(Operation):
        def __post_init__(self) -> None:
            if body is not None:
                media = OpenAPIMediaType(schema=body)
                self.request_body = RequestBody(content={"application/json": media}, required=True)
            if parameters:
                self.parameters = [*(self.parameters or []), *parameters]
            for status, response in (self.responses or {}).items():
                if isinstance(response, Reference):
                    continue
                if status.startswith("2"):
                    response.headers = dict(headers) if headers else None
                    response.links = dict(links) if links else None
                elif status in _ERROR_HEADERS:
                    response.headers = dict(_ERROR_HEADERS[status])

    return Documented
