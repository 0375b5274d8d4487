"""`?selector=` on the list, discover and their blocking forms (issue #24): a label selector over
the metadata, ANDed with role= and status=; a malformed one is a 400 that says where."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import vm
from tests.support.answers import error_of


def fleet(http: httpx.Client) -> str:
    """Four VMs of one run; the run's id, which every selector here starts with."""
    run = uuid.uuid4().hex[:12]
    bodies: list[dict[str, Any]] = [
        vm(f"{run}-a", metadata={"run": run, "task": "billing", "gpu": {"model": "a100"}}),
        vm(f"{run}-b", metadata={"run": run, "task": "billing", "spot": True, "cores": 8}),
        vm(f"{run}-c", role="lieutenant", metadata={"run": run, "task": "process invoices"}),
        vm(f"{run}-d", status="paused", metadata={"run": run, "task": "billing", "gpu": ["x"]}),
    ]
    for body in bodies:
        assert http.post("/registry/vms", json=body).status_code == 201
    return run


def ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {entry["id"].rsplit("-", 1)[1] for entry in answer.json()["vms"]}


def test_the_list_and_discover_filter_by_selector(http: httpx.Client) -> None:
    run = fleet(http)

    def listed(selector: str, **params: str) -> set[str]:
        return ids(
            http.get("/registry/vms", params={"selector": f"run={run},{selector}", **params})
        )

    assert listed("task=billing") == {"a", "b", "d"}
    assert listed("task==process invoices") == {"c"}
    assert listed("task in (billing, process invoices),!spot") == {"a", "c", "d"}
    assert listed("gpu.model=a100") == {"a"}
    assert listed("gpu") == {"a", "d"}  # an object or a list is present
    assert listed("gpu!=a100") == {"a", "b", "c", "d"}  # but equals no value
    assert listed("cores=8,spot=true") == {"b"}  # numbers and booleans compare as text
    assert listed("task=billing", role="worker", status="running") == {"a", "b"}
    discovered = http.get("/registry/discover/worker", params={"selector": f"run={run},!spot"})
    assert ids(discovered) == {"a"}  # d is paused, c a lieutenant, b a spot VM


@pytest.mark.parametrize(
    ("selector", "where"),
    [("task=billing,,x", "character 14"), ("task in billing", "character 9"), ("a.=b", "1")],
)
@pytest.mark.parametrize("path", ["/registry/vms", "/registry/discover/worker"])
def test_a_malformed_selector_is_a_400_saying_where(
    http: httpx.Client, path: str, selector: str, where: str
) -> None:
    message = error_of(http.get(path, params={"selector": selector}), 400)
    assert "selector is malformed" in message
    assert where in message


def test_a_selector_too_long_is_refused(http: httpx.Client) -> None:
    message = error_of(http.get("/registry/vms", params={"selector": "a" * 5000}), 400)
    assert "at most 4096" in message


def test_a_held_list_wakes_when_a_vm_enters_the_selection(http: httpx.Client) -> None:
    run = fleet(http)
    selector = f"run={run},task=shipping"
    first = http.get("/registry/vms", params={"selector": selector})
    assert ids(first) == set()
    index = first.headers["x-registry-revision"]
    answers: list[httpx.Response] = []

    def held() -> None:
        params = {"selector": selector, "index": index, "wait": "20s"}
        answers.append(http.get("/registry/vms", params=params, timeout=30))

    waiter = threading.Thread(target=held)
    waiter.start()
    # A change outside the selection does not answer it; the PATCH that brings b in does.
    http.post(f"/registry/vms/{run}-a/heartbeat")
    meta = {"run": run, "task": "shipping"}
    assert http.patch(f"/registry/vms/{run}-b", json={"metadata": meta}).status_code == 200
    waiter.join(30)
    assert ids(answers[0]) == {"b"}
    assert int(answers[0].headers["x-registry-revision"]) > int(index)
