"""One registry server shared by the read-only audit tests, with a known history.

The fleet's story is driven over HTTP, and after each step the test records what
`GET /registry/vms` answered at that revision. Time travel must later give back exactly those
answers: what the registry showed at revision R is what `?at=R` shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import vm
from tests.support.server import ServerProcess

BURST = 110  # heartbeats in a row, so the log is longer than one default page


@dataclass
class Fleet:
    http: httpx.Client
    events: list[dict[str, Any]] = field(default_factory=list)  # the whole log, from the API
    lists: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # revision -> vms

    @property
    def head(self) -> int:
        return self.events[-1]["seq"]

    def record(self) -> None:
        answer = self.http.get("/registry/vms")
        assert answer.status_code == 200
        self.lists[int(answer.headers["X-Registry-Revision"])] = answer.json()["vms"]

    def step(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        answer = self.http.request(method, path, json=body)
        assert answer.status_code in (200, 201), answer.text
        self.record()


def tell_the_story(fleet: Fleet) -> None:
    fleet.record()  # revision 0: nothing yet
    fleet.step("POST", "/registry/vms", vm("vm-a"))
    fleet.step("POST", "/registry/vms", vm("vm-b", role="infra"))
    fleet.step("POST", "/registry/vms", vm("vm-c", metadata={"zone": "fra-1"}))
    for _ in range(BURST):
        assert fleet.http.post("/registry/vms/vm-a/heartbeat").status_code == 200
    fleet.record()
    fleet.step("POST", "/registry/vms/vm-b/heartbeat")
    fleet.step("PATCH", "/registry/vms/vm-c", {"status": "paused"})
    fleet.step("DELETE", "/registry/vms/vm-b")
    fleet.step("POST", "/registry/vms", vm("vm-d", role="lieutenant"))
    fleet.step("POST", "/registry/vms", vm("vm-b", role="golden", name="b-again"))
    fleet.step("POST", "/registry/vms/vm-b/heartbeat")
    fleet.step("POST", "/registry/vms", vm("vm-e"))
    fleet.step("PATCH", "/registry/vms/vm-a", {"name": "alpha"})
    fleet.step("DELETE", "/registry/vms/vm-e")
    fleet.step("POST", "/registry/vms/vm-d/heartbeat")
    page = fleet.http.get("/registry/events", params={"limit": 1000})
    fleet.events = page.json()["events"]


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    server = ServerProcess(folder / "registry.db", args=["--snapshot-every", "7"]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            story = Fleet(http)
            tell_the_story(story)
            yield story
    finally:
        server.kill()
