"""Scoped tokens: admin may do everything; an agent may register, and change only what it
registered; read may list, discover, watch and read history, and nothing else. Ownership is
part of the log, so it holds after a restart too."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.security.conftest import ADMIN_SECRET, SCOPES, SECRETS, bearer
from tests.support import backend
from tests.support.server import ServerProcess


@pytest.fixture
def http(guarded: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        yield client


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(http: httpx.Client, token: str, vm_id: str) -> httpx.Response:
    return http.post("/registry/vms", json=vm(vm_id), headers=bearer(token))


def writes(http: httpx.Client, token: str, vm_id: str) -> dict[str, httpx.Response]:
    """Every write a token might try on an existing VM, ending with the deregistration."""
    headers = bearer(token)
    return {
        "update": http.patch(f"/registry/vms/{vm_id}", json={"name": "x"}, headers=headers),
        "heartbeat": http.post(f"/registry/vms/{vm_id}/heartbeat", headers=headers),
        "deregister": http.delete(f"/registry/vms/{vm_id}", headers=headers),
    }


def statuses(answers: dict[str, httpx.Response]) -> dict[str, int]:
    return {name: answer.status_code for name, answer in answers.items()}


ALLOWED = {"update": 200, "heartbeat": 200, "deregister": 200}
REFUSED = {"update": 403, "heartbeat": 403, "deregister": 403}


@pytest.mark.parametrize("owner", ["fleet", "other", "root", "admin"])
def test_admin_tokens_may_change_any_vm(http: httpx.Client, owner: str) -> None:
    for admin in ("root", "admin"):
        vm_id = fresh(f"by-{owner}")
        assert register(http, owner, vm_id).status_code == 201
        assert statuses(writes(http, admin, vm_id)) == ALLOWED


def test_an_agent_changes_what_it_registered(http: httpx.Client) -> None:
    vm_id = fresh("mine")
    assert register(http, "fleet", vm_id).status_code == 201
    assert statuses(writes(http, "fleet", vm_id)) == ALLOWED


@pytest.mark.parametrize("owner", ["other", "root", "admin"])
def test_an_agent_may_not_touch_what_it_did_not_register(http: httpx.Client, owner: str) -> None:
    vm_id = fresh(f"theirs-{owner}")
    assert register(http, owner, vm_id).status_code == 201
    answers = writes(http, "fleet", vm_id)
    assert statuses(answers) == REFUSED
    for answer in answers.values():
        assert set(answer.json()) == {"error"}
    entry = http.get(f"/registry/vms/{vm_id}", headers=bearer("dash")).json()
    assert entry["name"] == f"{vm_id}-name"
    # An agent cannot take an id over either: it is a plain conflict.
    assert register(http, "fleet", vm_id).status_code == 409


def test_a_read_token_reads_and_watches_and_may_not_write(http: httpx.Client) -> None:
    vm_id = fresh("read")
    assert register(http, "root", vm_id).status_code == 201
    reader = bearer("dash")
    for path in ("/registry/vms", f"/registry/vms/{vm_id}", "/registry/discover/worker",
                 "/registry/events", f"/registry/vms/{vm_id}/history"):  # fmt: skip
        assert http.get(path, headers=reader).status_code == 200, path
    with http.stream("GET", "/registry/stream", headers=reader) as stream:
        assert stream.status_code == 200
    assert http.post("/registry/vms", json=vm(fresh("r")), headers=reader).status_code == 403
    assert statuses(writes(http, "dash", vm_id)) == REFUSED


def test_events_record_the_token_name_and_scope(http: httpx.Client) -> None:
    vm_id = fresh("actor")
    assert register(http, "fleet", vm_id).status_code == 201
    events = http.get(f"/registry/vms/{vm_id}/history", headers=bearer("dash")).json()["events"]
    assert events[0]["actor"]["token"] == "fleet"
    assert events[0]["actor"]["scope"] == SCOPES["fleet"]


def log_for_a_new_process(db: Path, folder: Path) -> Path:
    """The log of the registry at `db`, for a second server to start on while `db`'s server
    keeps serving the other tests: on SQLite a copy of the live files, taken while nothing
    writes (a consistent database); on PostgreSQL the same database, which a second process
    shares as a replica. Either way that process knows only what it replays from the log."""
    if backend.ON_POSTGRES:
        return db
    for suffix in ("", "-wal"):
        source = Path(f"{db}{suffix}")
        if source.exists():
            shutil.copyfile(source, folder / f"registry.db{suffix}")
    return folder / "registry.db"


def test_ownership_survives_a_restart(guarded: ServerProcess, tmp_path: Path) -> None:
    with httpx.Client(base_url=guarded.url, timeout=10) as http:
        mine, theirs = fresh("kept-mine"), fresh("kept-theirs")
        assert register(http, "fleet", mine).status_code == 201
        assert register(http, "other", theirs).status_code == 201
    tokens = ";".join(f"{name}:{SCOPES[name]}:{secret}" for name, secret in SECRETS.items())
    restarted = ServerProcess(
        log_for_a_new_process(guarded.db, tmp_path),
        env={"VERS_AUTH_TOKEN": ADMIN_SECRET, "VM_REGISTRY_TOKENS": tokens},
    ).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=10) as http:
            assert (
                http.post(f"/registry/vms/{theirs}/heartbeat", headers=bearer("fleet")).status_code
                == 403
            )
            assert (
                http.post(f"/registry/vms/{mine}/heartbeat", headers=bearer("fleet")).status_code
                == 200
            )
    finally:
        restarted.kill()
