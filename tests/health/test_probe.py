"""The probe on its own, against real services on loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.health.services import Services, running_services
from tests.support.server import free_port
from vm_registry.service.allow_list import AllowList
from vm_registry.service.probe import ProbeFailure, Prober, Target
from vm_registry.service.probe_process import ProbeProcess


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with running_services() as running:
        yield running


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    found = Prober(AllowList.parse(["127.0.0.1", "::1", "localhost"]), timeout=0.5, concurrency=4)
    try:
        yield found
    finally:
        await found.close()


def at(services: Services, path: str, address: str = "127.0.0.1") -> Target:
    return Target("vm-1", "svc", address, services.port, path)


@pytest.mark.parametrize(
    ("path", "result", "detail"),
    [
        ("/ok", "passing", "HTTP 200"),
        ("/ok?verbose=1", "passing", "HTTP 200"),
        ("/fail", "failing", "HTTP 500"),
        ("/nowhere", "failing", "HTTP 404"),
        ("/redirect", "failing", "HTTP 302 (redirects are not followed)"),
        ("/hang", "timeout", "no answer within 0.5 s"),
    ],
)
async def test_only_a_2xx_passes(
    prober: Prober, services: Services, path: str, result: str, detail: str
) -> None:
    outcome = await prober.probe(at(services, path))
    assert (outcome.result, outcome.detail) == (result, detail)


async def test_a_redirect_is_not_followed(prober: Prober, services: Services) -> None:
    await prober.probe(at(services, "/redirect"))
    assert services.hits["/ok-after-redirect"] == 0


async def test_a_name_is_resolved_and_sent_as_the_host(prober: Prober, services: Services) -> None:
    outcome = await prober.probe(at(services, "/ok", address="localhost"))
    assert outcome.result == "passing"
    assert services.last_host == f"localhost:{services.port}"


async def test_a_closed_port_is_unreachable(prober: Prober) -> None:
    outcome = await prober.probe(Target("vm-1", "svc", "127.0.0.1", free_port(), "/ok"))
    assert outcome.result == "unreachable"
    assert outcome.detail.startswith("no HTTP answer")


@pytest.mark.parametrize(
    ("address", "path", "detail"),
    [
        ("127.0.0.2", "/ok", "not probed: 127.0.0.2 is outside the health-check allow-list"),
        ("evil.com/x?", "/ok", "address 'evil.com/x?' is not a host name or IP address"),
        ("user@127.0.0.1", "/ok", "is not a host name or IP address"),
        ("127.0.0.1", "health", "healthPath 'health' is not an absolute path"),
        ("127.0.0.1", "//other.host/x", "is not an absolute path"),
        ("127.0.0.1", "/a b", "is not an absolute path"),
    ],
)
async def test_targets_it_may_not_or_cannot_probe_are_refused_unprobed(
    prober: Prober, services: Services, address: str, path: str, detail: str
) -> None:
    before = sum(services.hits.values())
    outcome = await prober.probe(at(services, path, address=address))
    assert outcome.result == "refused"
    assert detail in outcome.detail
    assert sum(services.hits.values()) == before


async def test_the_probe_process_answers_a_round_and_survives_its_child(
    services: Services,
) -> None:
    probes = ProbeProcess(["127.0.0.1"], timeout=0.5, concurrency=4)
    targets = [
        at(services, "/ok"),
        at(services, "/fail"),
        at(services, "/ok", address="127.0.0.2"),
        at(services, "/hang"),
    ]
    try:
        found = {
            t.path + t.address: (v.result, v.detail)
            async for t, v in probes.probe_round(targets, 0.2)
        }
        assert found == {
            "/ok127.0.0.1": ("passing", "HTTP 200"),
            "/fail127.0.0.1": ("failing", "HTTP 500"),
            "/ok127.0.0.2": (
                "refused",
                "not probed: 127.0.0.2 is outside the health-check allow-list",
            ),
            "/hang127.0.0.1": ("timeout", "no answer within 0.5 s"),
        }

        # The child dies with a round in flight: the round ends with what was answered, and
        # says it was cut short...
        answered: list[str] = []

        async def hanging_round() -> None:
            round_ = probes.probe_round([at(services, "/ok"), at(services, "/hang")], 0.0)
            async for _, verdict in round_:
                answered.append(verdict.result)

        cut = asyncio.create_task(hanging_round())
        while not answered:
            await asyncio.sleep(0.01)
        assert probes._child is not None
        probes._child.kill()
        with pytest.raises(ProbeFailure, match="ended mid-round"):
            await cut
        assert answered == ["passing"]
        # ...and the next round starts a new child.
        again = [v.result async for _, v in probes.probe_round([at(services, "/ok")], 0.0)]
        assert again == ["passing"]
        # A replica that stops being the leader lets its child go; probing takes a new one.
        await probes.rest()
        assert probes._child is None
        later = [v.result async for _, v in probes.probe_round([at(services, "/ok")], 0.0)]
        assert later == ["passing"]
    finally:
        await probes.close()


async def test_the_probe_process_takes_rounds_far_over_any_line_limit(services: Services) -> None:
    """A round of 2,000 targets on 970-character addresses is about 2 MB, and each refusal
    quotes its address: no line limit on the way in or out (issue #25)."""
    probes = ProbeProcess(["127.0.0.1"], timeout=0.5, concurrency=32)
    long_name = ".".join(["a" * 60] * 16)[:970]
    targets = [at(services, f"/ok/{i}", address=long_name) for i in range(2000)]
    targets.append(at(services, "/ok/last"))
    try:
        found = [(t, v) async for t, v in probes.probe_round(targets, 0.0)]
    finally:
        await probes.close()
    assert len(found) == len(targets)
    assert {t.path for t, _ in found} == {t.path for t in targets}
    refused = [v for t, v in found if t.address == long_name]
    assert {v.result for v in refused} == {"refused"}
    assert all(len(v.detail) <= 200 for v in refused)
    assert [v.result for t, v in found if t.path == "/ok/last"] == ["passing"]
