"""Issue #25, item 13: when a request was followed on the same connection by a head over the
64 KiB limit, the 431 went out at once and the connection closed, in place of the first
request's answer. A refusal at the protocol level that concerns a later request now waits:
every request before it is answered, in order, then the refusal, then the close.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.hostile.raw_http import error_message, exchange, split_answers
from tests.support.fixtures import server_fixture
from tests.support.server import ServerProcess

live = server_fixture("pipelined")

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
BIG_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n"
NOT_HTTP = b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n"


def statuses(answers: list[tuple[int, dict[str, str], bytes]]) -> list[int]:
    return [status for status, _, _ in answers]


def test_a_request_then_a_head_over_the_limit_gets_its_answer_then_431(
    live: ServerProcess,
) -> None:
    answers = split_answers(exchange(live, HEALTH + BIG_HEAD))
    assert statuses(answers) == [200, 431]
    assert json.loads(answers[0][2])["status"] == "ok"
    assert "64 KiB" in error_message(answers[1], 431)


@pytest.mark.parametrize("writes", [1, 2])
def test_an_answer_still_held_comes_before_the_refusal_of_what_follows(
    live: ServerProcess, writes: int
) -> None:
    # A blocking query at the current revision, on a server nothing writes to: it is held for
    # its 1 s wait, and the head over the limit arrives meanwhile.
    revision = httpx.get(f"{live.url}/health").json()["revision"]
    held = b"GET /registry/vms?index=%d&wait=1s HTTP/1.1\r\nHost: x\r\n\r\n" % revision
    pieces = (held + BIG_HEAD,) if writes == 1 else (held, BIG_HEAD)
    answers = split_answers(exchange(live, *pieces))
    assert statuses(answers) == [200, 431]
    assert "vms" in json.loads(answers[0][2])
    assert "64 KiB" in error_message(answers[1], 431)


def test_two_requests_then_one_the_parser_refuses_get_two_answers_then_400(
    live: ServerProcess,
) -> None:
    answers = split_answers(exchange(live, HEALTH + HEALTH + NOT_HTTP))
    assert statuses(answers) == [200, 200, 400]
    assert error_message(answers[2], 400).startswith("invalid HTTP request")
