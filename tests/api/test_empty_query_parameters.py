"""An empty query value (`?healthy`, `?snapshot=`, `?role=worker&role=`) is a 400 naming the
parameter: a bare `?healthy` is true to a Consul user and was read as false. The exceptions are
the ones the OpenAPI document marks `allowEmptyValue`: the filters `role` and `status` (no
filter, as in the registry agents use today, whose scripts send `?role=$ROLE` unset) and the
selector (an empty selector selects everything, as in Kubernetes).

The parameters are read from the app's own OpenAPI document plus the change feed's, as in
test_repeated_query_parameters.py, so a new parameter is covered too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import new_id
from tests.api.test_repeated_query_parameters import COMPANIONS, STREAM
from tests.support.answers import error_of


@pytest.fixture(scope="module")
def known_vm(http: httpx.Client) -> str:
    vm_id = new_id()
    body = {"id": vm_id, "name": "n", "role": "worker", "address": "a", "registeredBy": "t"}
    assert http.post("/registry/vms", json=body).status_code == 201
    return vm_id


def _query_parameters(http: httpx.Client) -> Iterator[tuple[str, str, bool]]:
    """(path, name, whether the document says it may be empty)."""
    document: dict[str, Any] = http.get("/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query":
                yield path, parameter["name"], parameter.get("allowEmptyValue", False)
    for name in STREAM[1]:
        yield STREAM[0], name, name == "role"  # the feed's role filter reads as the list's
    yield STREAM[0], "selector", True


def _get(http: httpx.Client, url: str, params: list[tuple[str, str]]) -> tuple[int, str]:
    """The status, and the error message when it is a 400 (a stream is left unread)."""
    with http.stream("GET", url, params=params) as answer:
        if answer.status_code != 400:
            return answer.status_code, ""
        answer.read()
        return 400, error_of(answer, 400)


def test_every_query_parameter_refuses_an_empty_value_unless_documented(
    http: httpx.Client, known_vm: str
) -> None:
    found = sorted(set(_query_parameters(http)))
    assert ("/registry/vms", "role", True) in found
    assert ("/registry/discover/{role}", "healthy", False) in found
    assert ("/registry/vms", "selector", True) in found
    wrong = []
    for path, name, may_be_empty in found:
        url = path.replace("{vm_id}", known_vm).replace("{role}", "worker")
        status, message = _get(http, url, [(name, ""), *COMPANIONS.get(name, {}).items()])
        if may_be_empty and status != 200:
            wrong.append(f"{path}?{name}= (documented as allowed): {status} {message}")
        if not may_be_empty and (status != 400 or name not in message):
            wrong.append(f"{path}?{name}=: {status} {message!r}")
    assert not wrong, wrong


def test_an_empty_filter_value_means_no_filter_as_in_agent_services(http: httpx.Client) -> None:
    """`?role=&status=` is what an agent's script sends when its filter variables are unset;
    the registry agents use today answers it with every VM, and so does this one."""
    everything = http.get("/registry/vms").json()
    assert http.get("/registry/vms", params={"role": "", "status": ""}).json() == everything


def test_a_bare_flag_is_refused_rather_than_read_as_false(http: httpx.Client) -> None:
    answer = http.get("/registry/discover/worker?healthy")
    assert "give healthy=true or healthy=false" in error_of(answer, 400)


def test_a_filter_given_once_filled_and_once_empty_is_refused(http: httpx.Client) -> None:
    answer = http.get("/registry/vms?role=worker&role=")
    assert "query parameter role is given more than once" in error_of(answer, 400)


def test_an_absent_filter_and_an_empty_selector_still_match_everything(
    http: httpx.Client, known_vm: str
) -> None:
    everything = http.get("/registry/vms").json()
    assert known_vm in [vm["id"] for vm in everything["vms"]]
    assert http.get("/registry/vms", params={"selector": ""}).json() == everything
