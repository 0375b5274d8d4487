"""Issue #11, 3 and 7: inputs that reached a 500, or that meant two things at once.

- Integers longer than Python's 4,300-digit conversion limit raised an uncaught ValueError in
  every numeric slot (query numbers, `If-Match`, `Last-Event-ID`): 500. Now every numeric input
  answers 400 `{"error"}`, whatever its length.
- A store failure while reading the log (here: a row an outside process made undecodable) was
  not in the exception table: 500. Now 503, with the cause kept to the server log.
- `{"id":"t7","id":"t8"}` registered t8, while a proxy or an auditor reading the first key saw
  t7. Now a body with a repeated key, at any depth, is refused naming the key, and nothing is
  written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import vm
from tests.support import backend
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

LONG = "9" * 4301  # one digit past Python's int-from-string limit
PADDED = "0" * 5000 + "1"  # a small number written long: still too long to be sent honestly


live = server_fixture("numbers")


@pytest.fixture(scope="module")
def http(live: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.post("/registry/vms", json=vm("x")).status_code == 201
        yield client


def refused(answer: httpx.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert list(body) == ["error"], body
    message: str = body["error"]
    assert LONG not in message  # a bad value is echoed only in part
    return message


QUERY_SLOTS = [
    "/registry/events?after={}",
    "/registry/events?limit={}",
    "/registry/vms/x/history?after={}",
    "/registry/vms/x/history?limit={}",
    "/registry/vms?at={}",
    "/registry/vms/x?at={}",
    "/registry/stream?after={}",
]


@pytest.mark.parametrize("number", [LONG, "9223372036854775808"], ids=["4301-digits", "2^63"])
@pytest.mark.parametrize("slot", QUERY_SLOTS)
def test_an_oversized_number_in_a_query_is_400(http: httpx.Client, slot: str, number: str) -> None:
    with http.stream("GET", slot.format(number)) as answer:
        answer.read()
        assert "at most 9223372036854775807" in refused(answer)


def test_a_long_zero_padded_number_is_read_as_its_value(http: httpx.Client) -> None:
    answer = http.get(f"/registry/events?after={PADDED}&limit=1")
    assert answer.status_code == 200, answer.text[:300]
    assert [e["seq"] for e in answer.json()["events"]] == []  # the log holds only seq 1


@pytest.mark.parametrize("number", [LONG, "9223372036854775808"], ids=["4301-digits", "2^63"])
def test_an_oversized_last_event_id_is_400(http: httpx.Client, number: str) -> None:
    with http.stream("GET", "/registry/stream", headers={"Last-Event-ID": number}) as answer:
        answer.read()
        assert "Last-Event-ID" in refused(answer)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("tag", [f'"{LONG}"', f'W/"{LONG}"', LONG])
def test_an_oversized_if_match_is_400_and_changes_nothing(
    http: httpx.Client, method: str, tag: str
) -> None:
    before = http.get("/registry/vms/x").json()
    body = {"name": "q"} if method == "PATCH" else None
    answer = http.request(method, "/registry/vms/x", json=body, headers={"If-Match": tag})
    assert "If-Match" in refused(answer)
    assert http.get("/registry/vms/x").json() == before


DUPLICATES = {
    "top-level id": b'{"id":"t7","id":"t8","name":"n","role":"worker","address":"a",'
    b'"registeredBy":"t"}',
    "top-level role": b'{"id":"t9","name":"n","role":"worker","role":"infra","address":"a",'
    b'"registeredBy":"t"}',
    "in metadata": b'{"id":"t10","name":"n","role":"worker","address":"a","registeredBy":"t",'
    b'"metadata":{"a":{"owner":"x","owner":"y"}}}',
    "in a service": b'{"id":"t11","name":"n","role":"worker","address":"a","registeredBy":"t",'
    b'"services":[{"name":"a","port":1,"port":2}]}',
}


@pytest.mark.parametrize("name", DUPLICATES)
def test_a_registration_with_a_repeated_key_is_refused_naming_it(
    http: httpx.Client, name: str
) -> None:
    raw = DUPLICATES[name]
    revision = http.get("/health").json()["revision"]
    answer = http.post("/registry/vms", content=raw, headers={"content-type": "application/json"})
    message = refused(answer)
    assert "more than once" in message
    key = {"top-level id": "id", "top-level role": "role", "in metadata": "owner"}.get(name, "port")
    assert repr(key) in message
    assert http.get("/health").json()["revision"] == revision
    for vm_id in ("t7", "t8", "t9", "t10", "t11"):
        assert http.get(f"/registry/vms/{vm_id}").status_code == 404


def test_an_update_with_a_repeated_key_is_refused(http: httpx.Client) -> None:
    before = http.get("/registry/vms/x").json()
    answer = http.patch("/registry/vms/x", content=b'{"name":"a","name":"b"}')
    assert "'name'" in refused(answer)
    assert http.get("/registry/vms/x").json() == before


def test_equal_keys_in_different_objects_are_fine(http: httpx.Client) -> None:
    body = vm("same-keys", metadata={"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 3}, {"k": 4}]})
    assert http.post("/registry/vms", content=json.dumps(body)).status_code == 201


# Last: it damages the log for good.
def test_a_store_failure_on_a_read_is_503_not_500(live: ServerProcess, http: httpx.Client) -> None:
    # The first event's data made undecodable from outside, in each backend's own SQL.
    if backend.ON_POSTGRES:
        backend.execute(live.db, "UPDATE events SET data = '\\xff00'::bytea WHERE seq = 1")
    else:
        backend.execute(live.db, "UPDATE events SET data = x'ff00' WHERE seq = 1")
    # Where the log is (a file, or a database and its URL) stays in the server log.
    where = {str(live.db), "registry.db", backend.target(live.db)}
    if backend.ON_POSTGRES:
        where.add(urlsplit(backend.target(live.db)).path.lstrip("/"))
    for path in ("/registry/events", "/registry/vms/x/history", "/registry/vms?at=1"):
        answer = http.get(path)
        message = refused(answer, 503)
        assert not any(secret in message for secret in where), message
        assert answer.headers["retry-after"] == "1"
    assert http.get("/health").status_code == 200
