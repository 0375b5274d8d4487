"""With VERS_AUTH_TOKEN set, every route but /health needs `Authorization: Bearer <token>`."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import new_id
from tests.conftest import vm
from tests.support.answers import error_of
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess

TOKEN = "s3cret"
GOOD = {"Authorization": f"Bearer {TOKEN}"}


guarded = server_fixture("auth", env={"VERS_AUTH_TOKEN": TOKEN})


anonymous = http_fixture("guarded")


ROUTES = [
    ("POST", "/registry/vms"),
    ("GET", "/registry/vms"),
    ("GET", "/registry/vms/vm-1"),
    ("PATCH", "/registry/vms/vm-1"),
    ("DELETE", "/registry/vms/vm-1"),
    ("POST", "/registry/vms/vm-1/heartbeat"),
    ("GET", "/registry/discover/infra"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "longer", "basic", "bare", "empty"],
)
def test_every_route_needs_the_token(
    anonymous: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    body = vm("vm-1") if method == "POST" else {"status": "paused"}
    response = anonymous.request(method, path, json=body, headers=headers)
    assert "token" in error_of(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_nothing_is_written_without_the_token(anonymous: httpx.Client) -> None:
    vm_id = new_id()
    before = anonymous.get("/health").json()["revision"]
    error_of(anonymous.post("/registry/vms", json=vm(vm_id)), 401)
    assert anonymous.get("/health").json()["revision"] == before
    assert anonymous.get(f"/registry/vms/{vm_id}", headers=GOOD).status_code == 404


def test_health_is_open_without_a_token(anonymous: httpx.Client) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_token_opens_every_route(anonymous: httpx.Client) -> None:
    vm_id = new_id()
    assert anonymous.post("/registry/vms", json=vm(vm_id), headers=GOOD).status_code == 201
    assert anonymous.get("/registry/vms", headers=GOOD).json()["count"] >= 1
    assert anonymous.get(f"/registry/vms/{vm_id}", headers=GOOD).status_code == 200
    patched = anonymous.patch(f"/registry/vms/{vm_id}", json={"name": "x"}, headers=GOOD)
    assert patched.status_code == 200
    assert anonymous.post(f"/registry/vms/{vm_id}/heartbeat", headers=GOOD).status_code == 200
    assert anonymous.get("/registry/discover/worker", headers=GOOD).status_code == 200
    lowercase = {"authorization": f"bearer {TOKEN}"}
    assert anonymous.delete(f"/registry/vms/{vm_id}", headers=lowercase).status_code == 200


def test_the_token_never_reaches_the_log_and_no_open_api_warning(
    guarded: ServerProcess, anonymous: httpx.Client
) -> None:
    anonymous.get("/registry/vms", headers={"Authorization": "Bearer wrong-guess"})
    anonymous.get("/registry/vms", headers=GOOD)
    output = guarded.output()
    assert TOKEN not in output
    assert "wrong-guess" not in output
    assert not [
        line for line in output.splitlines() if "VERS_AUTH_TOKEN" in line and "open" in line
    ]


def test_without_a_token_the_api_is_open_and_says_so_once(
    shared_server: ServerProcess, http: httpx.Client
) -> None:
    assert http.get("/registry/vms").status_code == 200
    warnings = [line for line in shared_server.output().splitlines() if "VERS_AUTH_TOKEN" in line]
    assert len(warnings) == 1
    assert "open" in warnings[0]
