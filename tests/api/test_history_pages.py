"""`GET /registry/vms/{id}/history` without a `limit` answered all of one VM's events in one
page: 20,000 PATCHes of 64 KiB metadata were 1.3 GB held for one request. A page now ends, like
one of `/registry/events`, at the event whose data bring it to 4 MiB, and `next` goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import vm
from tests.support.server import ServerProcess

PATCHES = 150


def pages_of(http: httpx.Client, path: str, **params: int) -> list[list[dict[str, Any]]]:
    """Every page of `path`, following `next` until an empty page."""
    pages: list[list[dict[str, Any]]] = []
    after: int | None = None
    while True:
        query = {**params, **({} if after is None else {"after": after})}
        answer = http.get(path, params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(body["events"])
        if not body["events"]:
            assert "next" not in body
            return pages
        assert body["next"] == body["events"][-1]["seq"]
        pages.append(body["events"])
        after = body["next"]


def test_a_vm_history_over_4_mib_comes_in_pages_that_next_follows(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "registry.db").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("big")).status_code == 201
            assert http.post("/registry/vms", json=vm("other")).status_code == 201
            for n in range(PATCHES):
                metadata = {"pad": f"{n:08d}" + "x" * 60_000}
                answer = http.patch("/registry/vms/big", json={"metadata": metadata})
                assert answer.status_code == 200, answer.text
                if n % 10 == 0:  # the other VM's events are in between, not in the history
                    assert http.post("/registry/vms/other/heartbeat").status_code == 200
            pages = pages_of(http, "/registry/vms/big/history")
            limited = pages_of(http, "/registry/vms/big/history", limit=50)
    finally:
        server.kill()
    # About 60 KB of data a PATCH: 70 of them reach 4 MiB (the first page has the registration).
    assert [len(p) for p in pages] == [71, 70, 10]
    events = [e for p in pages for e in p]
    assert {e["vmId"] for e in events} == {"big"}
    assert [e["type"] for e in events] == ["vm.registered"] + ["vm.updated"] * PATCHES
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    pads = [e["data"]["metadata"]["pad"][:8] for e in events[1:]]
    assert pads == [f"{n:08d}" for n in range(PATCHES)]
    # A limit still ends a page sooner than the bytes do.
    assert [len(p) for p in limited] == [50, 50, 50, 1]
    assert [e["seq"] for p in limited for e in p] == seqs
