"""A token never leaves the server: not in its log (at debug level), not in any response body or
header, not in the events, the history or the stream. The actor records the token's name."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import vm
from tests.security.conftest import ADMIN_SECRET, SECRETS, bearer
from tests.support.server import ServerProcess

# Near misses a client might send: a server that logs refused tokens would leak these.
WRONG = ["fleet-secret-51d2e8ab", "x" * 40, ADMIN_SECRET[::-1]]
EVERY_SECRET = [ADMIN_SECRET, *SECRETS.values(), *WRONG]


def traffic(http: httpx.Client) -> list[httpx.Response]:
    """Successes and every kind of failure, from every token."""
    seen: list[httpx.Response] = []
    for name in ("admin", *SECRETS):
        vm_id = f"secret-{name}-{uuid.uuid4().hex[:6]}"
        headers = bearer(name)
        seen += [
            http.post("/registry/vms", json=vm(vm_id), headers=headers),
            http.post("/registry/vms", json=vm(vm_id), headers=headers),  # 409
            http.post("/registry/vms", content=b"{", headers=headers),  # 400
            http.patch(f"/registry/vms/{vm_id}", json={"role": "x"}, headers=headers),
            http.patch(f"/registry/vms/{vm_id}", json={"name": "n"}, headers=headers),
            http.post(f"/registry/vms/{vm_id}/heartbeat", headers=headers),
            http.get("/registry/vms/absent", headers=headers),  # 404
            http.get("/registry/events?limit=0", headers=headers),  # 400
        ]
    # Ownership refusals name the token's *name*.
    mine = f"secret-owned-{uuid.uuid4().hex[:6]}"
    seen.append(http.post("/registry/vms", json=vm(mine), headers=bearer("fleet")))
    seen.append(http.delete(f"/registry/vms/{mine}", headers=bearer("other")))
    for wrong in WRONG:
        seen.append(http.get("/registry/vms", headers={"Authorization": f"Bearer {wrong}"}))
    return seen


def leaks(text: str) -> list[str]:
    return [secret for secret in EVERY_SECRET if secret in text]


def test_tokens_never_appear_in_responses_events_streams_or_logs(guarded: ServerProcess) -> None:
    with httpx.Client(base_url=guarded.url, timeout=10) as http:
        answers = traffic(http)
        assert {a.status_code for a in answers} >= {200, 201, 400, 401, 403, 404, 409}
        for answer in answers:
            assert not leaks(answer.text), answer.text
            assert not leaks(str(answer.headers)), answer.headers

        reader = bearer("dash")
        log = http.get("/registry/events?limit=1000", headers=reader)
        assert not leaks(log.text)
        actors = [event["actor"] for event in log.json()["events"]]
        assert {a.get("token") for a in actors} >= {"admin", *SECRETS} - {"dash"}
        vm_id = log.json()["events"][0]["vmId"]
        assert not leaks(http.get(f"/registry/vms/{vm_id}/history", headers=reader).text)

        with http.stream("GET", "/registry/stream?after=0", headers=reader) as stream:
            received = b""
            for chunk in stream.iter_bytes():
                received += chunk
                if received.count(b"\nid: ") + received.startswith(b"id: ") >= len(actors):
                    break
        assert b"event: vm.registered" in received
        assert not leaks(received.decode())

    server_log = guarded.output()
    assert "Uvicorn running on" in server_log
    assert not leaks(server_log), "a token is in the server log"
