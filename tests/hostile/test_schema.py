"""Schemathesis against a real server, from the app's own OpenAPI schema (/schema/openapi.json).

The routes parse their input by hand, so the app documents it itself (`api.schemas`,
`api.openapi`): bodies, query parameters, every answer's shape, and links. The contract in
tests/hostile/contract.py, written independently, must find nothing left to fill in. Each
operation gets positive examples (valid by the schema) and negative ones (invalid somewhere);
then a stateful run follows links (register, then get, update with the ETag, heartbeat, history,
delete).

Nothing may answer 5xx, violate the documented status codes, content types or response
schemas, accept what the schema calls invalid, or hang (every call has a 10 s timeout). Every
response also carries the security headers.

`make test` runs VM_REGISTRY_FUZZ_EXAMPLES=30 examples per operation and mode; `make fuzz` 2000.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.hostile import contract
from tests.support.server import ServerProcess

EXAMPLES = int(os.environ.get("VM_REGISTRY_FUZZ_EXAMPLES", "30"))
STEPS = int(os.environ.get("VM_REGISTRY_FUZZ_STEPS", "10"))
TIMEOUT = 10.0  # a call that takes longer is a hang
TRIED: Counter[str] = Counter()
# Each test runs up to EXAMPLES cases (stateful: scenarios of STEPS calls): let `make fuzz` run.
pytestmark = pytest.mark.timeout(120 + EXAMPLES * STEPS * 0.05)


# A blocking query (`?index=N`) may rightly be held up to `wait` (default 5 minutes): a fuzzed
# one asks for at most 100 ms, so it answers within TIMEOUT. An invalid `wait` is left as it is.
VALID_WAIT = re.compile(r"^[0-9]+(\.[0-9]+)?(ms|s|m)?$")


def bounded_hold(case: Case) -> None:
    query = case.query
    if isinstance(query, dict) and "index" in query:
        wait = query.get("wait")
        if wait is None or (isinstance(wait, str) and VALID_WAIT.match(wait)):
            query["wait"] = "100ms"


def security_headers(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    for name in ("x-content-type-options", "content-security-policy", "x-frame-options"):
        assert name in {key.lower() for key in response.headers}, f"{name} is missing"
    return None


def use_after_free(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    # The history of a deregistered VM stays readable on purpose: it is the audit trail.
    if case.path.endswith("/history"):
        return None
    return openapi_checks.use_after_free(ctx, response, case)


CHECKS: list[Any] = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
    security_headers,
]
STATEFUL_CHECKS = [*CHECKS, use_after_free, openapi_checks.ensure_resource_availability]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The same cases on every run of `make test`; fresh ones on every `make fuzz`.
    derandomize=EXAMPLES <= 100,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "registry.db").start()
    try:
        yield server
    finally:
        server.kill()
        print(f"\nschemathesis: {sum(TRIED.values())} cases: {dict(TRIED)}")


@pytest.fixture(scope="module")
def app_schema(live: ServerProcess) -> dict[str, Any]:
    answer = httpx.get(f"{live.url}/schema/openapi.json", timeout=10)
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


@pytest.fixture(scope="module")
def schema(live: ServerProcess, app_schema: dict[str, Any]) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_dict(app_schema)
    loaded.config.update(base_url=live.url)
    return loaded


def test_the_apps_schema_documents_the_whole_contract(
    live: ServerProcess, app_schema: dict[str, Any]
) -> None:
    assert contract.gaps(app_schema) == []


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation_id", list(contract.OPERATIONS))
def test_generated_requests_get_documented_answers(
    schema: OpenApiSchema, operation_id: str, mode: GenerationMode
) -> None:
    operation = schema.find_operation_by_id(operation_id)

    @SETTINGS
    @given(operation.as_strategy(generation_mode=mode))
    def exchange(case: Case) -> None:
        TRIED[mode.value] += 1
        bounded_hold(case)
        response = case.call(timeout=TIMEOUT)
        case.validate_response(response, checks=CHECKS)

    try:
        exchange()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{operation_id} takes no input that could be invalid")
        raise


def test_stateful_runs_follow_links_without_a_failure(schema: OpenApiSchema) -> None:
    salts = itertools.count()
    # Only the declared links: links inferred from list responses lead to whatever earlier
    # scenarios left on the server, which Hypothesis (rightly) calls flaky on a replay.
    schema.config.phases.stateful.inference.algorithms = []

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.salt = next(salts)

        def before_call(self, case: Case) -> None:
            # The server keeps its state between scenarios; a salted id keeps a replayed
            # scenario from meeting its own earlier registration (a 409 Hypothesis would
            # rightly call flaky). Only valid cases are salted, after trimming, with a
            # fixed-width salt: an id's validity never depends on the salt.
            body = case.body
            positive = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
            registering = case.path == "/registry/vms" and isinstance(body, dict) and positive
            if registering and isinstance(body.get("id"), str):
                salted = f"{self.salt:08x}-{body['id'].strip()}"
                body["id"] = salted[: contract.MAX_ID_LENGTH]

        def call(self, case: Case, **kwargs: Any) -> Response:
            TRIED["stateful"] += 1
            bounded_hold(case)
            return case.call(timeout=TIMEOUT, **kwargs)

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=STATEFUL_CHECKS,
                transport_kwargs=kwargs or None,
                recorder=getattr(self, "recorder", None),
            )

    Scenario.run(settings=settings(SETTINGS, stateful_step_count=STEPS, phases=[Phase.generate]))
    assert TRIED["stateful"] > EXAMPLES
