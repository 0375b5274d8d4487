"""Read-your-writes: every write answer carries X-Registry-Revision, and reads given that
revision (`?minRevision=`, or the X-Registry-Min-Revision header) answer once the replica has
folded it. Waiting on a replica that lags is covered with several processes in
tests/replicas; here the server is alone, so a real revision is always folded already."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import new_id
from tests.support.answers import error_of

READS = ["/registry/vms", "/registry/vms/{id}", "/registry/discover/worker", "/registry/events"]


def _body(vm_id: str) -> dict[str, str]:
    return {
        "id": vm_id,
        "name": "n",
        "role": "worker",
        "address": "a.vm.vers.sh",
        "registeredBy": "tests",
    }


def test_every_write_answer_carries_the_revision(http: httpx.Client) -> None:
    vm_id = new_id()
    answers = [
        http.post("/registry/vms", json=_body(vm_id)),
        http.post(f"/registry/vms/{vm_id}/heartbeat"),
        http.patch(f"/registry/vms/{vm_id}", json={"status": "paused"}),
        http.delete(f"/registry/vms/{vm_id}"),
    ]
    revisions = [int(a.headers["X-Registry-Revision"]) for a in answers]
    assert all(a.is_success for a in answers)
    assert revisions == sorted(revisions) and len(set(revisions)) == 4
    assert revisions[1] >= answers[1].json()["revision"]


@pytest.mark.parametrize("path", READS)
def test_a_read_with_a_folded_revision_answers_at_once(http: httpx.Client, path: str) -> None:
    vm_id = new_id()
    written = http.post("/registry/vms", json=_body(vm_id))
    revision = written.headers["X-Registry-Revision"]
    url = path.format(id=vm_id)
    by_query = http.get(url, params={"minRevision": revision})
    by_header = http.get(url, headers={"X-Registry-Min-Revision": revision})
    assert by_query.status_code == by_header.status_code == 200
    assert int(by_query.headers["X-Registry-Revision"]) >= int(revision)


@pytest.mark.parametrize("path", READS)
def test_a_revision_beyond_the_log_is_refused_at_once(http: httpx.Client, path: str) -> None:
    url = path.format(id=new_id())
    message = error_of(http.get(url, params={"minRevision": 10**15}, timeout=2), 400)
    assert "minRevision 1000000000000000 is beyond the head of the log" in message
    header = http.get(url, headers={"X-Registry-Min-Revision": str(10**15)}, timeout=2)
    error_of(header, 400)


def test_a_malformed_revision_is_a_400_that_says_where(http: httpx.Client) -> None:
    assert "minRevision" in error_of(http.get("/registry/vms?minRevision=soon"), 400)
    message = error_of(http.get("/registry/vms", headers={"X-Registry-Min-Revision": "-1"}), 400)
    assert "X-Registry-Min-Revision" in message


# Issue #25, item 6: 5,000 digits in the header were a 500 on every read (Python refuses to
# convert an integer that long); non-ASCII digits were echoed back garbled.
HEADER_READS = [*READS, "/registry/stream"]


@pytest.mark.parametrize("path", HEADER_READS)
def test_a_header_revision_longer_than_any_seq_is_a_400(http: httpx.Client, path: str) -> None:
    url = path.format(id=new_id())
    answer = http.get(url, headers={"X-Registry-Min-Revision": "9" * 5000}, timeout=5)
    message = error_of(answer, 400)
    assert message.startswith("X-Registry-Min-Revision must be at most"), message
    assert "(5000 digits sent)" in message
    long_query = http.get(url, params={"minRevision": "9" * 5000}, timeout=5)
    assert "(5000 digits sent)" in error_of(long_query, 400)


@pytest.mark.parametrize("path", HEADER_READS)
def test_non_ascii_digits_in_the_header_are_a_400_quoting_them_as_sent(
    http: httpx.Client, path: str
) -> None:
    url = path.format(id=new_id())
    digits = "\u0661\u0662\u0663"  # Arabic-Indic 123: digits to str.isdigit(), not to a seq
    answer = http.get(url, headers={"X-Registry-Min-Revision": digits.encode()}, timeout=5)
    message = error_of(answer, 400)
    assert message == f"X-Registry-Min-Revision must be a non-negative integer, not {digits!r}"


def test_health_reports_the_folded_head_the_lag_and_leadership(http: httpx.Client) -> None:
    body = http.get("/health").json()
    assert body["head"] == body["revision"]
    assert body["lag"] == 0
    assert body["leader"] is True
