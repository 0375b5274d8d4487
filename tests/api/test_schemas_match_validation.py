"""The OpenAPI request bodies (`api/schemas.py`) and the validation the server runs
(`wire/bodies.py` on `domain/validation.py`) are two definitions of one contract; `api/schemas.py`
says why. This holds them together: for any body, valid or not in any of the ways the rules
know, the schema accepts it exactly when the server does.

Outside the comparison, because JSON Schema cannot say them (the server is the stricter side):
the ids "." and "..", metadata nested deeper than 32 levels, and numbers such as 80.0 (an
"integer" to JSON Schema, not to the server). The size limit of an entry is a 413, not a rule
of the shape, and the bodies here stay far below it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from vm_registry.api.schemas import REGISTRATION, UPDATE
from vm_registry.domain.errors import Invalid
from vm_registry.domain.model import ROLES, STATUSES
from vm_registry.domain.validation import MAX_ID_LENGTH, MAX_SERVICES, MAX_STRING_LENGTH
from vm_registry.wire import bodies

SPACES = st.sampled_from(["", " ", "\t", "\u00a0", "\u3000 "])
CONTROL = st.sampled_from(["\x00", "\n", "\x7f", "\x85", "\x9f"])
WRONG_TYPES = st.sampled_from([None, 42, True, [], ["x"], {}, 1.5])
LETTERS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))


def texts(most: int, also_not: str = "") -> st.SearchStrategy[Any]:
    core = st.text(LETTERS, min_size=1, max_size=8).filter(
        lambda t: not any(c in t for c in also_not) and t.strip() == t
    )
    valid = st.builds(lambda a, t, b: a + t + b, SPACES, core, SPACES)
    too_long = st.builds(lambda n: "x" * n, st.integers(most - 1, most + 2))
    with_control = st.builds(lambda t, c: t + c + t, core, CONTROL)
    blank = SPACES
    odd = [st.sampled_from([f"a{c}b" for c in also_not])] if also_not else []
    return st.one_of(valid, too_long, with_control, blank, *odd, WRONG_TYPES)


IDS = texts(MAX_ID_LENGTH, "/").filter(
    lambda v: not (isinstance(v, str) and v.strip() in (".", ".."))
)
TEXTS = texts(MAX_STRING_LENGTH)
ROLE_VALUES = st.one_of(
    st.sampled_from(ROLES), st.sampled_from(["boss", "Worker", ""]), WRONG_TYPES
)
STATUS_VALUES = st.one_of(st.sampled_from(STATUSES), st.just("stale"), WRONG_TYPES)
PORTS = st.one_of(st.integers(-1, 70_000), st.sampled_from([True, "80", None]))


@st.composite
def services(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(WRONG_TYPES.filter(lambda v: v is not None and not isinstance(v, list)))
    if kind == 1:
        return [{"name": "s", "port": 80}] * (MAX_SERVICES + 1)
    items: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 9)) == 0:
            items.append(draw(WRONG_TYPES))
            continue
        item: dict[str, Any] = {}
        if draw(st.booleans()) or draw(st.booleans()):
            item["name"] = draw(TEXTS)
        if draw(st.booleans()) or draw(st.booleans()):
            item["port"] = draw(PORTS)
        if draw(st.booleans()):
            item["healthPath"] = draw(TEXTS)
        if draw(st.integers(0, 9)) == 0:
            item["weight"] = 1
        items.append(item)
    return items


METADATA = st.one_of(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=5)),
        max_size=3,
    ),
    st.sampled_from(["x", 3, [1], True]),
)
EXTRA_KEYS = st.sampled_from(["revision", "stale", "lastSeen", "health", "color", "vmId"])


@st.composite
def registrations(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(WRONG_TYPES.filter(lambda v: not isinstance(v, dict)))
    body: dict[str, Any] = {}
    for key, values in [
        ("id", IDS),
        ("name", TEXTS),
        ("role", ROLE_VALUES),
        ("address", TEXTS),
        ("registeredBy", TEXTS),
    ]:
        if draw(st.integers(0, 7)):  # mostly present
            body[key] = draw(values)
    if draw(st.booleans()):
        body["status"] = draw(STATUS_VALUES)
    if draw(st.booleans()):
        body["services"] = draw(st.one_of(st.none(), services()))
    if draw(st.booleans()):
        body["metadata"] = draw(st.one_of(st.none(), METADATA))
    if draw(st.integers(0, 7)) == 0:
        body[draw(EXTRA_KEYS)] = 1
    return body


@st.composite
def updates(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(WRONG_TYPES.filter(lambda v: not isinstance(v, dict)))
    body: dict[str, Any] = {}
    for key, values in [
        ("name", TEXTS),
        ("status", STATUS_VALUES),
        ("address", TEXTS),
        ("services", st.one_of(st.none(), services())),
        ("metadata", st.one_of(st.none(), METADATA)),
    ]:
        if draw(st.integers(0, 2)) == 0:
            body[key] = draw(values)
    if draw(st.integers(0, 7)) == 0:
        body[draw(st.sampled_from(["id", "role", "registeredBy", "revision", "color"]))] = "x"
    return body


def server_accepts(parse: Any, body: Any) -> bool:
    try:
        parse(body)
    except Invalid:
        return False
    return True


REGISTRATION_SCHEMA = Draft202012Validator(REGISTRATION.to_schema())
UPDATE_SCHEMA = Draft202012Validator(UPDATE.to_schema())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registrations())
def test_the_registration_schema_accepts_what_the_server_accepts(body: Any) -> None:
    accepted = server_accepts(bodies.registration, body)
    event("accepted" if accepted else "refused")
    assert REGISTRATION_SCHEMA.is_valid(body) == accepted, (body, accepted)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates())
def test_the_update_schema_accepts_what_the_server_accepts(body: Any) -> None:
    accepted = server_accepts(bodies.update, body)
    event("accepted" if accepted else "refused")
    assert UPDATE_SCHEMA.is_valid(body) == accepted, (body, accepted)


def test_the_field_lists_are_the_same() -> None:
    registration = REGISTRATION.to_schema()
    assert set(registration["required"]) == set(bodies.REGISTER_REQUIRED)
    assert set(registration["properties"]) == set(
        bodies.REGISTER_REQUIRED + bodies.REGISTER_OPTIONAL
    )
    assert set(UPDATE.to_schema()["properties"]) == set(bodies.UPDATABLE)
