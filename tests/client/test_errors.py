"""Each refusal arrives as its own exception type, with the server's message and status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, free_port
from vm_registry.client import (
    AsyncRegistryClient,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    RegistryClient,
    RegistryError,
    Unauthorized,
    Unavailable,
    Unreachable,
    calls,
)
from vm_registry.client.errors import for_status


def test_not_found_carries_the_message_and_status(registry: RegistryClient) -> None:
    with pytest.raises(NotFound) as caught:
        registry.heartbeat("no-such-vm")

    assert caught.value.status == 404
    assert "no-such-vm" in caught.value.message
    assert str(caught.value) == f"{caught.value.message} (HTTP 404)"


def test_conflict(registry: RegistryClient, vm_id: str) -> None:
    registry.register(vm_id, "a", "worker", "a", "me")

    with pytest.raises(Conflict) as caught:
        registry.register(vm_id, "a", "worker", "a", "me")
    assert caught.value.status == 409
    assert vm_id in caught.value.message


def test_invalid_names_the_field(registry: RegistryClient, vm_id: str) -> None:
    with pytest.raises(Invalid) as caught:
        registry.register(vm_id, "a", "captain", "a", "me")
    assert caught.value.status == 400
    assert "role" in caught.value.message

    with pytest.raises(Invalid):
        registry.list(role="captain")


def test_precondition_failed(registry: RegistryClient, vm_id: str) -> None:
    entry = registry.register(vm_id, "a", "worker", "a", "me")
    assert entry.revision is not None
    registry.heartbeat(vm_id)

    with pytest.raises(PreconditionFailed) as caught:
        registry.update(vm_id, name="b", if_revision=entry.revision)
    assert caught.value.status == 412


def test_unreachable_is_not_a_bare_httpx_error() -> None:
    client = RegistryClient(f"http://127.0.0.1:{free_port()}")
    with client, pytest.raises(Unreachable) as caught:
        client.list()

    assert isinstance(caught.value, Unavailable)
    assert caught.value.status is None
    assert "cannot reach the registry" in str(caught.value)


async def test_unreachable_async() -> None:
    async with AsyncRegistryClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(Unreachable):
            await client.get("x")


def test_an_unreadable_answer_is_a_protocol_error(shared_server: ServerProcess) -> None:
    # /health answers JSON, but not an entry: the caller gets a RegistryError, not a KeyError.
    with RegistryClient(shared_server.url) as client, pytest.raises(ProtocolError):
        client._send(calls.Call("GET", "/health", lambda body, _: body["id"]))


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db: Path = tmp_path_factory.mktemp("auth") / "registry.db"
    proc = ServerProcess(db, env={"VERS_AUTH_TOKEN": "s3cret"}).start()
    try:
        yield proc
    finally:
        proc.kill()


def test_unauthorized_without_or_with_a_wrong_token(guarded_server: ServerProcess) -> None:
    for token in (None, "wrong"):
        with RegistryClient(guarded_server.url, token) as client:
            with pytest.raises(Unauthorized) as caught:
                client.list()
            assert caught.value.status == 401


def test_the_token_is_sent_as_a_bearer(
    guarded_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, vm_id: str
) -> None:
    with RegistryClient(guarded_server.url, "s3cret") as client:
        assert client.register(vm_id, "a", "worker", "a", "me").id == vm_id
    monkeypatch.setenv("VERS_AUTH_TOKEN", "s3cret")
    with RegistryClient(guarded_server.url) as from_env:
        assert from_env.get(vm_id).id == vm_id


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, Invalid),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (410, Gone),
        (412, PreconditionFailed),
        (503, Unavailable),
        (502, Unavailable),
        (413, RegistryError),
    ],
)
def test_every_status_has_a_type(status: int, kind: type[RegistryError]) -> None:
    error = for_status(status, {"error": "the server's words"}, "fallback")

    assert type(error) is kind
    assert (error.message, error.status) == ("the server's words", status)


def test_a_body_without_an_error_field_falls_back() -> None:
    assert for_status(502, None, "Bad Gateway").message == "Bad Gateway"
