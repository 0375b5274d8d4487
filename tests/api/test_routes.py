"""Every route of the contract agents use, on its success path."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import TO_ISO_STRING, new_id, revision
from tests.conftest import vm


def register(http: httpx.Client, vm_id: str, **fields: object) -> dict[str, object]:
    response = http.post("/registry/vms", json=vm(vm_id, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_register_answers_201_with_the_full_entry(http: httpx.Client) -> None:
    vm_id = new_id()
    services = [{"name": "pi-rpc", "port": 3001}, {"name": "web", "port": 80, "healthPath": "/h"}]
    response = http.post(
        "/registry/vms",
        json=vm(vm_id, role="lieutenant", services=services, metadata={"task": "invoices"}),
    )
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("id", "name", "role", "status", "address", "registeredBy")} == {
        "id": vm_id,
        "name": f"{vm_id}-name",
        "role": "lieutenant",
        "status": "running",  # the default
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
    }
    assert body["services"] == services
    assert body["metadata"] == {"task": "invoices"}
    assert TO_ISO_STRING.match(body["registeredAt"])
    assert body["registeredAt"] == body["lastSeen"]
    assert body["revision"] == revision(http)
    assert response.headers["X-Registry-Revision"] == str(body["revision"])


def test_register_keeps_a_given_status_and_stores_strings_trimmed(http: httpx.Client) -> None:
    vm_id = new_id()
    body = register(http, f"  {vm_id}\t", name="  billing ", address=" a.example ", status="paused")
    assert (body["id"], body["name"], body["address"], body["status"]) == (
        vm_id,
        "billing",
        "a.example",
        "paused",
    )
    assert http.get(f"/registry/vms/{vm_id}").json() == body


def test_get_answers_the_entry_as_registered(http: httpx.Client) -> None:
    vm_id = new_id()
    created = register(http, vm_id, metadata={"nested": {"list": [1, 2.5, None, True, "x"]}})
    response = http.get(f"/registry/vms/{vm_id}")
    assert response.status_code == 200
    assert response.json() == created


def test_list_is_newest_registration_first_with_a_count(http: httpx.Client) -> None:
    ids = [new_id("order") for _ in range(4)]
    for vm_id in ids:
        register(http, vm_id)
    http.patch(f"/registry/vms/{ids[0]}", json={"status": "paused"})  # updates don't reorder
    http.post(f"/registry/vms/{ids[1]}/heartbeat")
    body = http.get("/registry/vms").json()
    assert body["count"] == len(body["vms"])
    listed = [e["id"] for e in body["vms"] if e["id"] in ids]
    assert listed == list(reversed(ids))
    stamps = [e["registeredAt"] for e in body["vms"]]
    assert stamps == sorted(stamps, reverse=True)


def test_list_filters_by_role_and_status(http: httpx.Client) -> None:
    infra, worker, paused = new_id("infra"), new_id("worker"), new_id("paused")
    register(http, infra, role="infra")
    register(http, worker, role="worker")
    register(http, paused, role="infra", status="paused")

    def ids(query: str) -> list[str]:
        body = http.get(f"/registry/vms?{query}").json()
        assert body["count"] == len(body["vms"])
        return [e["id"] for e in body["vms"]]

    assert infra in ids("role=infra")
    assert paused in ids("role=infra")
    assert worker not in ids("role=infra")
    assert all(e["role"] == "infra" for e in http.get("/registry/vms?role=infra").json()["vms"])
    assert paused in ids("status=paused")
    assert infra not in ids("status=paused")
    assert ids("role=infra&status=running").count(infra) == 1
    assert paused not in ids("role=infra&status=running")
    assert worker not in ids("role=infra&status=running")


def test_patch_updates_the_updatable_fields_and_refreshes_last_seen(http: httpx.Client) -> None:
    vm_id = new_id()
    created = register(http, vm_id, services=[{"name": "a", "port": 1}], metadata={"k": 1})
    changes = {
        "name": "renamed",
        "status": "paused",
        "address": "b.example",
        "services": [{"name": "rpc", "port": 3001, "healthPath": "/health"}],
        "metadata": {"reason": "saving resources"},
    }
    response = http.patch(f"/registry/vms/{vm_id}", json=changes)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in changes} == changes
    assert (body["id"], body["role"], body["registeredBy"]) == (
        vm_id,
        created["role"],
        created["registeredBy"],
    )
    assert body["registeredAt"] == created["registeredAt"]
    assert TO_ISO_STRING.match(body["lastSeen"])
    assert body["lastSeen"] >= created["lastSeen"]
    assert body["revision"] > created["revision"]  # type: ignore[operator]
    assert http.get(f"/registry/vms/{vm_id}").json() == body


def test_patch_changes_only_what_it_names_and_null_clears(http: httpx.Client) -> None:
    vm_id = new_id()
    created = register(http, vm_id, services=[{"name": "a", "port": 1}], metadata={"k": 1})
    body = http.patch(f"/registry/vms/{vm_id}", json={"metadata": None}).json()
    assert "metadata" not in body or body["metadata"] is None
    assert body["services"] == created["services"]
    assert body["name"] == created["name"]
    body = http.patch(f"/registry/vms/{vm_id}", json={"services": None}).json()
    assert "services" not in body or body["services"] is None


def test_delete_answers_deleted_and_the_id_may_be_registered_again(http: httpx.Client) -> None:
    vm_id = new_id()
    first = register(http, vm_id, name="first")
    response = http.delete(f"/registry/vms/{vm_id}")
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    assert http.get(f"/registry/vms/{vm_id}").status_code == 404
    assert vm_id not in [e["id"] for e in http.get("/registry/vms").json()["vms"]]
    second = register(http, vm_id, name="second", role="golden")
    assert (second["name"], second["role"]) == ("second", "golden")
    assert second["registeredAt"] >= first["registeredAt"]  # type: ignore[operator]
    assert http.get("/registry/vms").json()["vms"][0]["id"] == vm_id  # newest again


def test_heartbeat_answers_id_and_last_seen_and_refreshes_the_entry(http: httpx.Client) -> None:
    vm_id = new_id()
    created = register(http, vm_id)
    response = http.post(f"/registry/vms/{vm_id}/heartbeat")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == vm_id
    assert TO_ISO_STRING.match(body["lastSeen"])
    assert body["lastSeen"] >= created["lastSeen"]
    entry = http.get(f"/registry/vms/{vm_id}").json()
    assert entry["lastSeen"] == body["lastSeen"]
    assert entry["registeredAt"] == created["registeredAt"]
    assert entry["revision"] > created["revision"]


def test_discover_answers_running_vms_of_the_role_only(http: httpx.Client) -> None:
    running, paused, stopped, other = (new_id(n) for n in ("run", "pause", "stop", "other"))
    register(http, running, role="custom")
    register(http, paused, role="custom", status="paused")
    register(http, stopped, role="custom")
    http.patch(f"/registry/vms/{stopped}", json={"status": "stopped"})
    register(http, other, role="golden")
    response = http.get("/registry/discover/custom")
    assert response.status_code == 200
    body = response.json()
    found = [e["id"] for e in body["vms"]]
    assert body["count"] == len(found)
    assert running in found
    assert not {paused, stopped, other} & set(found)
    assert all(e["role"] == "custom" and e["status"] == "running" for e in body["vms"])


def test_health_answers_ok_and_the_revision(http: httpx.Client) -> None:
    before = revision(http)
    register(http, new_id())
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["revision"] == before + 1


def test_names_in_any_script_round_trip(http: httpx.Client) -> None:
    vm_id = new_id("ünïcødé-🚀")
    fields = {
        "name": "🚀 שלום עולם — مرحبا",
        "address": "‮reversed‬.example",
        "registeredBy": "агент 🤖",
        "metadata": {"emoji": "👩‍👩‍👧", "rtl": "עברית", "nul": "a\u0000b"},
    }
    created = register(http, vm_id, **fields)
    assert {k: created[k] for k in fields} == fields
    fetched = http.get(f"/registry/vms/{vm_id}")
    assert fetched.json() == created
    assert vm_id in [e["id"] for e in http.get("/registry/vms").json()["vms"]]


def test_an_id_that_looks_percent_encoded_is_an_ordinary_id(http: httpx.Client) -> None:
    vm_id = new_id() + "%2Fx"
    register(http, vm_id)
    escaped = vm_id.replace("%", "%25")
    assert http.get(f"/registry/vms/{escaped}").json()["id"] == vm_id
    assert http.post(f"/registry/vms/{escaped}/heartbeat").json()["id"] == vm_id
    assert http.delete(f"/registry/vms/{escaped}").status_code == 200


def test_an_id_of_256_characters_works_on_every_route(http: httpx.Client) -> None:
    vm_id = new_id().ljust(256, "x")
    assert register(http, vm_id)["id"] == vm_id
    assert http.get(f"/registry/vms/{vm_id}").status_code == 200
    assert http.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}).status_code == 200
    assert http.post(f"/registry/vms/{vm_id}/heartbeat").status_code == 200
    assert http.delete(f"/registry/vms/{vm_id}").status_code == 200


@pytest.mark.parametrize(
    "suffix", ["a?b", "a#b", "a b", "a+b", "%", "%41", "a;b", "a\\b", "...", "ü", "x.json"]
)
def test_ids_with_url_special_characters_work_when_escaped(http: httpx.Client, suffix: str) -> None:
    vm_id = f"{new_id()}-{suffix}"
    register(http, vm_id)
    path = f"/registry/vms/{quote(vm_id, safe='')}"
    assert http.get(path).json()["id"] == vm_id
    assert http.patch(path, json={"status": "paused"}).json()["status"] == "paused"
    assert http.post(f"{path}/heartbeat").json()["id"] == vm_id
    assert http.delete(path).status_code == 200
    assert http.get(path).status_code == 404
