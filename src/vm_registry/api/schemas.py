"""The wire shapes, for the OpenAPI document: what litestar cannot learn from the handlers.

The handlers parse bodies by hand, so that every refusal names the field, and answer with JSON
rendered by `api.responses`; litestar's signature inspection sees neither. The answers are described
here as TypedDicts rather than dataclasses: on the wire a key is either there or absent (never
null), which `NotRequired` says and a dataclass default does not. The handlers that build an
answer in place annotate it with its shape, so mypy holds the two together. `ClosedShapes`
marks every shape closed (`additionalProperties: false`): schemathesis then fails on any key
the server sends that is not documented here.

The request bodies are OpenAPI schemas written out, because they must say exactly what
`wire.bodies` (on `domain.validation`) accepts and no more: schemathesis sends what they call
invalid and fails the server if it accepts it. Text is trimmed before its length is checked, so
a length is a pattern (`_trimmed`), not a `maxLength` that would count the whitespace the server
drops.

Why the bodies have two definitions, not one msgspec `Struct` with `Meta` constraints that both
validation and this document come from: a Struct cannot keep today's messages or rules.
msgspec answers "Expected `str`, got `int` - at `$.services[0].name`" where the registry says
"services[0].name must be a string"; it has no message of our own for "registeredAt is set by
the server and cannot be sent" or "id is not updatable"; its `max_length` counts the whitespace
the server trims, and its patterns cannot refuse the ids "." and ".." nor metadata nested past
32 levels. Wrapping it to rewrite each message would be a second definition again. So the
field lists are shared (`wire.bodies.REGISTER_REQUIRED` and the rest, and the limits in
`domain.validation`), and `tests/api/test_schemas_match_validation.py` checks, for generated
bodies valid and invalid in every way the rules know, that these schemas accept exactly what
the server accepts.
"""

# No `from __future__ import annotations` here: under it, a TypedDict cannot see `NotRequired`
# (Python 3.11 decides the required keys from the annotations when the class is made).
import re
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import KwargDefinition
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from vm_registry.domain.events import EVENT_TYPES
from vm_registry.domain.model import HEALTH_STATUSES, ROLES, STATUSES
from vm_registry.domain.validation import MAX_ID_LENGTH, MAX_SERVICES, MAX_STRING_LENGTH
from vm_registry.wire.bodies import REGISTER_REQUIRED

_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Exactly what Python's str.strip() removes, spelled out: `\s` means different things to a
# Python regex and a Rust one (schemathesis generates with the first, validates with the
# second), and \x1c-\x1f sit on the line between them.
_SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _trimmed(most: int, also_not: str = "") -> str:
    """Text the server accepts: 1 to `most` characters once surrounding whitespace is trimmed,
    without control characters (nor `also_not`)."""
    edge = rf"[^{_SPACE}{also_not}{_CONTROL}]"
    inner = rf"[^{also_not}{_CONTROL}]{{0,{most - 2}}}"
    return rf"^[{_SPACE}]*{edge}(?:{inner}{edge})?[{_SPACE}]*$"


def _listing(names: tuple[str, ...]) -> str:
    """A comma-separated list naming at least one of `names`; blanks between commas are
    ignored, as the server ignores them."""
    name = "(?:" + "|".join(re.escape(n) for n in names) + ")"
    token = rf"[{_SPACE}]*"
    return rf"^(?:{token},)*{token}{name}{token}(?:,{token}(?:{name}{token})?)*$"


TEXT_PATTERN = _trimmed(MAX_STRING_LENGTH)
# No '/'. (Nor "." or "..", which a regex without lookahead cannot say; the server refuses them.)
VM_ID_PATTERN = _trimmed(MAX_ID_LENGTH, "/")
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
EVENT_TYPES_PATTERN = _listing(EVENT_TYPES)
IF_MATCH_PATTERN = r'^(W/)?"*[0-9]+"*$'

# The answers.

Time = Annotated[
    str,
    KwargDefinition(pattern=TIME_PATTERN, description="UTC, to the millisecond"),
]
Role = Annotated[str, KwargDefinition(schema_extra={"enum": list(ROLES)})]
Status = Annotated[str, KwargDefinition(schema_extra={"enum": list(STATUSES)})]
Port = Annotated[int, KwargDefinition(ge=1, le=65535)]
Seq = Annotated[int, KwargDefinition(ge=1, description="a position in the event log")]
Count = Annotated[int, KwargDefinition(schema_extra={"minimum": 0})]  # litestar drops ge=0


class Service(TypedDict):
    name: str
    port: Port
    healthPath: NotRequired[str]


class Entry(TypedDict):
    id: str
    name: str
    role: Role
    status: Status
    address: str
    services: NotRequired[list[Service]]
    metadata: NotRequired[dict[str, Any]]
    registeredBy: str
    registeredAt: Time
    lastSeen: Time
    revision: Annotated[int, KwargDefinition(ge=1, description="the seq that last changed it")]
    stale: bool
    health: NotRequired[
        Annotated[
            dict[str, str],
            KwargDefinition(
                description="per checked service: passing or critical (docs/health.md)",
                schema_extra={"additionalProperties": {"enum": list(HEALTH_STATUSES)}},
            ),
        ]
    ]


class EntryList(TypedDict):
    vms: list[Entry]
    count: Count


class HeartbeatAnswer(TypedDict):
    id: str
    lastSeen: Time
    revision: Seq


class Deleted(TypedDict):
    deleted: Literal[True]
    id: str
    revision: Seq


class Event(TypedDict):
    seq: Seq
    type: Annotated[str, KwargDefinition(schema_extra={"enum": list(EVENT_TYPES)})]
    vmId: str
    at: Time
    actor: Annotated[dict[str, Any], KwargDefinition(description="who asked, as far as known")]
    data: Annotated[dict[str, Any], KwargDefinition(description="the fields the event set")]


class EventPage(TypedDict):
    events: list[Event]
    count: Count
    next: NotRequired[Seq]  # the last seq on the page: pass it as after= for the next


class HealthChecks(TypedDict):
    failingRounds: Count  # rounds in a row the prober could not finish
    problem: str  # why the latest could not


class Retained(TypedDict):
    oldestSeq: Count  # the oldest event the live log holds
    oldestAt: str | None  # its time; null on an empty log
    archived: bool  # whether dropped history is archived (serve --archive-dir)
    droppedEvents: Count  # events this process's retention dropped
    problem: NotRequired[str]  # why the last retention run failed


class Health(TypedDict):
    # "degraded": the registry serves, but something it promises is not working (healthChecks)
    status: Literal["ok", "degraded"]
    revision: Count
    vms: Count
    subscribers: Count
    stalenessSuspended: bool
    head: Count  # the log's head as far as this replica knows
    lag: Count  # events committed to the log that this replica has not folded yet
    leader: bool  # this replica runs the reaper and writes snapshots
    heldQueries: Count  # blocking queries held right now (docs/health.md)
    logUnreachable: NotRequired[str]  # why the log could not be reached, while it cannot
    healthChecks: NotRequired[HealthChecks]  # present while the prober cannot work
    retention: NotRequired[Retained]  # the retained window, when retention is on
    warning: NotRequired[str]


class Error(TypedDict):
    error: Annotated[str, KwargDefinition(min_length=1, description="what to fix, in words")]


class ClosedShapes(OpenAPISchemaPlugin):
    """Documents the TypedDicts above as they are, plus `additionalProperties: false`."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        shape = field_definition.annotation
        return field_definition.is_typeddict_type and shape.__module__ == __name__

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        shape = field_definition.annotation
        hints = field_definition.get_type_hints(include_extras=True)
        schema: Schema = schema_creator.create_component_schema(
            field_definition,
            required=sorted(shape.__required_keys__),
            property_fields={k: FieldDefinition.from_kwarg(v, k) for k, v in hints.items()},
        )
        schema.additional_properties = False
        return schema


# The request bodies.

_TEXT = Schema(type=OpenAPIType.STRING, pattern=TEXT_PATTERN)
_SERVICES = Schema(
    type=OpenAPIType.ARRAY,
    max_items=MAX_SERVICES,
    items=Schema(
        type=OpenAPIType.OBJECT,
        required=["name", "port"],
        properties={
            "name": _TEXT,
            "port": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=65535),
            "healthPath": _TEXT,
        },
        additional_properties=False,
    ),
)
# null is accepted as "not given" at registration, and clears them in an update.
_NULL = Schema(type=OpenAPIType.NULL)
_CLEARABLE = {
    "services": Schema(any_of=[_SERVICES, _NULL]),
    "metadata": Schema(
        any_of=[Schema(type=OpenAPIType.OBJECT, description="nested at most 32 deep"), _NULL]
    ),
}
_ROLE = Schema(type=OpenAPIType.STRING, enum=list(ROLES))
_STATUS = Schema(type=OpenAPIType.STRING, enum=list(STATUSES))

REGISTRATION = Schema(
    title="Registration",
    type=OpenAPIType.OBJECT,
    required=list(REGISTER_REQUIRED),
    properties={
        "id": Schema(type=OpenAPIType.STRING, pattern=VM_ID_PATTERN),
        "name": _TEXT,
        "role": _ROLE,
        "status": Schema(type=OpenAPIType.STRING, enum=list(STATUSES), default="running"),
        "address": _TEXT,
        "registeredBy": _TEXT,
        **_CLEARABLE,
    },
    additional_properties=False,
)
UPDATE = Schema(
    title="Update",
    description="Only the fields sent change; null clears services or metadata.",
    type=OpenAPIType.OBJECT,
    min_properties=1,
    properties={"name": _TEXT, "status": _STATUS, "address": _TEXT, **_CLEARABLE},
    additional_properties=False,
)

# Values in the URL and headers.

VM_ID = Schema(type=OpenAPIType.STRING, pattern=VM_ID_PATTERN)
SEQ = Schema(type=OpenAPIType.INTEGER, minimum=0)
ISO_TIME = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME)
