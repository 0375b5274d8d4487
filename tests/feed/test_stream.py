"""`GET /registry/stream` against a real server, read with a real SSE client (httpx-sse)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import vm
from tests.feed.conftest import StartServer, async_client
from tests.feed.sse import STREAM, Watch, beat, head, refusal, register, subscribers
from tests.support import backend
from tests.support.fixtures import server_fixture
from tests.support.polling import eventually_async as eventually
from tests.support.server import ServerProcess

_ids = itertools.count(1)


def fresh(prefix: str = "vm") -> str:
    """A VM id no other test on the shared server uses."""
    return f"{prefix}-{next(_ids)}"


async def churn(client: httpx.AsyncClient, vm_ids: list[str], writes: int, writers: int = 4) -> int:
    """`writes` heartbeats and updates from `writers` concurrent clients; the last revision."""
    counter = itertools.count()
    last = 0

    async def writer() -> None:
        nonlocal last
        while (n := next(counter)) < writes:
            vm_id = vm_ids[n % len(vm_ids)]
            if n % 5 == 0:
                response = await client.patch(f"/registry/vms/{vm_id}", json={"metadata": {"n": n}})
                assert response.status_code == 200, response.text
                revision = response.json()["revision"]
            else:
                revision = await beat(client, vm_id)
            last = max(last, revision)

    await asyncio.gather(*(writer() for _ in range(writers)))
    return last


# -- the wire ------------------------------------------------------------------------------


async def test_the_stream_says_how_to_reconnect_and_that_proxies_must_not_buffer(
    http: httpx.AsyncClient,
) -> None:
    async with Watch(http) as watch:
        await watch.until(lambda w: bool(w.messages), what="a first message")
        response = watch.response
        assert response is not None
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert int(response.headers["x-registry-revision"]) == await head(http)
        assert watch.messages[0].retry == 2000


async def test_an_idle_stream_gets_keepalive_comments(http: httpx.AsyncClient) -> None:
    async with http.stream("GET", STREAM, params={"vm": fresh()}) as response:
        lines: list[str] = []
        async with asyncio.timeout(10):  # the shared server sends one every 0.5 s
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith(":"):
                    break
    assert lines[:2] == ["retry: 2000", ""]
    assert lines[-1].startswith(": ping")


async def test_head_answers_the_headers_without_opening_a_stream(
    http: httpx.AsyncClient,
) -> None:
    async with asyncio.timeout(10):
        response = await http.head(STREAM)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""

    async def released() -> bool:
        return await subscribers(http) == 0

    await eventually(released, what="no subscription left behind")


async def test_committed_events_arrive_in_order_with_their_seq_as_id(
    http: httpx.AsyncClient,
) -> None:
    a, b = fresh(), fresh()
    async with Watch(http) as watch:
        start = int(watch.response.headers["x-registry-revision"])  # type: ignore[union-attr]
        await register(http, a, role="lieutenant")
        await register(http, b)
        await beat(http, a)
        await http.patch(f"/registry/vms/{b}", json={"status": "paused"})
        await http.delete(f"/registry/vms/{a}")
        events = await watch.until_events(5)

    assert [e.id for e in events] == list(range(start + 1, start + 6))
    assert [(e.event, e.data["vmId"]) for e in events] == [
        ("vm.registered", a),
        ("vm.registered", b),
        ("vm.heartbeat", a),
        ("vm.updated", b),
        ("vm.deregistered", a),
    ]
    for event in events:
        assert event.data["seq"] == event.id
        assert event.data["type"] == event.event
        assert event.data["at"].endswith("Z")
        assert "userAgent" in event.data["actor"]
    registered, _, heartbeat, updated, deregistered = events
    assert registered.data["data"]["role"] == "lieutenant"
    assert registered.data["vm"]["role"] == "lieutenant"
    assert heartbeat.data["data"] == {}
    assert heartbeat.data["vm"]["revision"] == heartbeat.id
    assert updated.data["data"] == {"status": "paused"}
    assert updated.data["vm"]["status"] == "paused"
    assert deregistered.data["vm"] is None


async def test_a_stream_without_a_resume_point_starts_at_the_head(
    http: httpx.AsyncClient,
) -> None:
    await register(http, fresh())
    before = await head(http)
    async with Watch(http) as watch:
        newer = await register(http, fresh())
        await watch.until_id(newer)
    assert watch.ids == [newer] == [before + 1]


# -- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["last-event-id", "after"])
async def test_resuming_while_writers_run_loses_nothing_and_repeats_nothing(
    http: httpx.AsyncClient, how: str
) -> None:
    fleet = [fresh() for _ in range(5)]
    for vm_id in fleet:
        await register(http, vm_id)
    start = resume = await head(http)
    got: list[int] = []
    sessions = 0

    def open_from(point: int) -> Watch:
        if how == "after":
            return Watch(http, params={"after": point})
        return Watch(http, headers={"Last-Event-ID": str(point)})

    def record(watch: Watch) -> int:
        nonlocal sessions
        sessions += 1
        got.extend(watch.ids)
        assert [e.data["seq"] for e in watch.events] == watch.ids
        return resume if watch.last_id is None else watch.last_id

    writers = asyncio.create_task(churn(http, fleet, writes=300))
    while not writers.done():
        # Hang up after a few events, in the middle of the writes, and come back.
        async with open_from(resume) as watch:
            await watch.until(lambda w: len(w.events) >= 15 or writers.done(), what="events")
        resume = record(watch)
    final = await writers
    async with open_from(resume) as watch:
        if resume < final:
            await watch.until_id(final)
    record(watch)

    assert sessions >= 3
    assert got == list(range(start + 1, final + 1))


async def test_a_resume_point_from_further_back_than_the_tail_replays_from_the_log(
    http: httpx.AsyncClient,
) -> None:
    vm_id = fresh()
    start = await register(http, vm_id)
    for _ in range(120):  # the tail holds 50
        await beat(http, vm_id)
    end = await head(http)
    async with Watch(http, {"after": start, "vm": vm_id}) as watch:
        await watch.until_id(end)
    assert watch.ids == list(range(start + 1, end + 1))
    assert {e.event for e in watch.events} == {"vm.heartbeat"}
    # The replayed entries are the ones the VM had at that point, not today's.
    assert [e.data["vm"]["revision"] for e in watch.events] == watch.ids


async def test_a_browser_reconnecting_with_its_original_url_resumes_from_last_event_id(
    http: httpx.AsyncClient,
) -> None:
    vm_id = fresh()
    first = await register(http, vm_id)
    second = await beat(http, vm_id)
    # EventSource reopens the URL it was given (?after=0 here) and adds Last-Event-ID.
    async with Watch(http, {"after": first - 1}, {"Last-Event-ID": str(first)}) as watch:
        await watch.until_id(second)
    assert watch.ids == [second]


# -- list then watch ----------------------------------------------------------------------


@pytest.mark.parametrize("listing", ["list", "discover", "one"])
async def test_watching_from_a_listings_revision_gives_exactly_the_changes_since(
    http: httpx.AsyncClient, listing: str
) -> None:
    fleet = [fresh("mirror") for _ in range(4)]
    for vm_id in fleet:
        await register(http, vm_id)
    writers = asyncio.create_task(churn(http, fleet, writes=120, writers=3))
    await asyncio.sleep(0.05)  # list in the middle of the writes
    url = {
        "list": "/registry/vms",
        "discover": "/registry/discover/worker",
        "one": f"/registry/vms/{fleet[0]}",
    }[listing]
    listed = await http.get(url)
    revision = int(listed.headers["x-registry-revision"])
    async with Watch(http, {"after": revision}) as watch:
        final = await writers
        await watch.until_id(final)
    assert watch.ids == list(range(revision + 1, final + 1))

    if listing == "list":
        # A mirror built from the listing plus the changes equals the registry now.
        mirror = {entry["id"]: entry for entry in listed.json()["vms"]}
        for event in watch.events:
            if event.data["vm"] is None:
                mirror.pop(event.data["vmId"], None)
            else:
                mirror[event.data["vmId"]] = event.data["vm"]
        now = {entry["id"]: entry for entry in (await http.get("/registry/vms")).json()["vms"]}
        assert mirror == now


# -- snapshot ---------------------------------------------------------------------------------


async def test_a_snapshot_first_then_live_changes_mirror_the_filtered_fleet(
    http: httpx.AsyncClient,
) -> None:
    workers = [fresh("snap-w") for _ in range(3)]
    lieutenant = fresh("snap-l")
    for vm_id in workers:
        await register(http, vm_id, metadata={"group": "snap"})
    await register(http, lieutenant, role="lieutenant")

    async with Watch(http, {"snapshot": "true", "role": "worker"}) as watch:
        await watch.until(lambda w: len(w.messages) >= 2, what="the snapshot")
        retry, snapshot = watch.messages[:2]
        assert retry.retry == 2000
        assert snapshot.event == "snapshot"
        listed = await http.get("/registry/vms", params={"role": "worker"})
        revision = int(listed.headers["x-registry-revision"])
        assert snapshot.id == snapshot.data["revision"] == revision
        assert snapshot.data["vms"] == listed.json()["vms"]
        assert set(workers) <= {vm["id"] for vm in snapshot.data["vms"]}

        await beat(http, lieutenant)  # filtered out
        last = await beat(http, workers[0])
        await watch.until_id(last)
    assert [(e.event, e.data["vmId"]) for e in watch.events] == [("vm.heartbeat", workers[0])]
    assert watch.ids == [last]


async def test_a_snapshot_honours_the_vm_filter(http: httpx.AsyncClient) -> None:
    mine, other = fresh(), fresh()
    await register(http, mine)
    await register(http, other)
    async with Watch(http, {"snapshot": "1", "vm": mine}) as watch:
        await watch.until(lambda w: any(m.event == "snapshot" for m in w.messages))
    snapshot = next(m for m in watch.messages if m.event == "snapshot")
    assert [vm["id"] for vm in snapshot.data["vms"]] == [mine]


async def test_reconnecting_to_a_snapshot_url_with_last_event_id_sends_no_second_snapshot(
    http: httpx.AsyncClient,
) -> None:
    vm_id = fresh()
    await register(http, vm_id)
    async with Watch(http, {"snapshot": "true", "vm": vm_id}) as watch:
        await watch.until(lambda w: any(m.event == "snapshot" for m in w.messages))
    seen = watch.last_id
    assert seen is not None
    change = await beat(http, vm_id)
    async with Watch(
        http, {"snapshot": "true", "vm": vm_id}, {"Last-Event-ID": str(seen)}
    ) as again:
        await again.until_id(change)
    assert [m.event for m in again.messages if m.id is not None] == ["vm.heartbeat"]


# -- filters ---------------------------------------------------------------------------------


FILTERS: dict[str, dict[str, str]] = {
    "role": {"role": "lieutenant"},
    "vm": {"vm": "<w1>"},
    "types": {"types": "vm.registered,vm.deregistered"},
    "role+types": {"role": "worker", "types": "vm.updated, vm.deregistered"},
    "vm+types": {"vm": "<w1>", "types": "vm.heartbeat"},
    "role+vm": {"role": "lieutenant", "vm": "<w1>"},
}


@pytest.mark.parametrize("name", list(FILTERS))
async def test_each_filter_and_combination_sends_exactly_the_matching_events(
    http: httpx.AsyncClient, name: str
) -> None:
    w1, w2, lt = fresh("w"), fresh("w"), fresh("lt")
    start = await head(http)
    await register(http, w1)
    await register(http, w2)
    await register(http, lt, role="lieutenant")
    for vm_id in (w1, w2, lt):
        await beat(http, vm_id)
    await http.patch(f"/registry/vms/{w1}", json={"status": "paused"})
    await http.patch(f"/registry/vms/{lt}", json={"name": "renamed"})
    await http.delete(f"/registry/vms/{w2}")  # a worker's exit still reaches role=worker
    await http.delete(f"/registry/vms/{lt}")
    end = await head(http)

    params = {k: v.replace("<w1>", w1) for k, v in FILTERS[name].items()}
    async with Watch(http, {"after": start}) as everything:
        await everything.until_id(end)
    async with Watch(http, {"after": start, **params}) as filtered:
        await filtered.until_id(end)  # a bookmark if the last event was filtered out

    roles = {w1: "worker", w2: "worker", lt: "lieutenant"}
    types = {t.strip() for t in params.get("types", "").split(",") if t.strip()}

    def matches(vm_id: str, kind: str) -> bool:
        return (
            ("role" not in params or roles[vm_id] == params["role"])
            and ("vm" not in params or vm_id == params["vm"])
            and (not types or kind in types)
        )

    expected = [(e.id, e.event, e.data["vmId"]) for e in everything.events]
    expected = [x for x in expected if matches(x[2], x[1])]
    assert [(e.id, e.event, e.data["vmId"]) for e in filtered.events] == expected
    if name != "role+vm":
        assert expected, "the scenario should give this filter something to match"


@pytest.mark.parametrize(
    "params",
    [{"role": "boss"}, {"types": "vm.exploded"}, {"types": " , "}, {"snapshot": "maybe"}],
)
async def test_a_bad_filter_is_a_400_before_the_stream_opens(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await refusal(http, params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


# -- bookmarks ---------------------------------------------------------------------------------


async def test_a_quiet_filtered_stream_gets_a_bookmark_that_moves_its_resume_point(
    http: httpx.AsyncClient,
) -> None:
    watched, busy = fresh(), fresh()
    await register(http, watched)
    await register(http, busy)
    async with Watch(http, {"vm": watched}) as watch:
        for _ in range(3):
            last = await beat(http, busy)
        await watch.until(
            lambda w: any(m.event == "bookmark" for m in w.messages), what="a bookmark"
        )
    bookmarks = [m for m in watch.messages if m.event == "bookmark"]
    assert watch.events == []
    assert bookmarks[-1].id == bookmarks[-1].data["revision"] == last
    assert watch.last_id == last  # what EventSource would send on reconnect

    newer = await beat(http, watched)
    async with Watch(http, {"vm": watched}, {"Last-Event-ID": str(watch.last_id)}) as again:
        await again.until_id(newer)
    assert again.ids == [newer]


async def test_an_unfiltered_or_busy_stream_gets_no_bookmarks(http: httpx.AsyncClient) -> None:
    vm_id = fresh()
    await register(http, vm_id)
    async with Watch(http) as everything, Watch(http, {"vm": vm_id}) as mine:
        last = await beat(http, vm_id)
        await everything.until_id(last)
        await mine.until_id(last)
        await asyncio.sleep(0.8)  # more than --bookmark-after
    for watch in (everything, mine):
        assert [m.event for m in watch.messages if m.id is not None] == ["vm.heartbeat"]


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"after": "x"}, {}),
        ({"after": "-1"}, {}),
        ({"after": "1.5"}, {}),
        ({}, {"Last-Event-ID": "garbage"}),
        ({}, {"Last-Event-ID": "-3"}),
        ({"after": "999999999"}, {}),
        ({}, {"Last-Event-ID": "999999999"}),
    ],
    ids=["after=x", "after=-1", "after=1.5", "id=garbage", "id=-3", "after>head", "id>head"],
)
async def test_a_bad_resume_point_is_a_400_json_error(
    http: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await refusal(http, params, headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


# A server with a bearer token and room for two streams.
guarded_server = server_fixture("guarded", "--max-subscribers", "2", env={"VERS_AUTH_TOKEN": TOKEN})


async def test_the_stream_needs_the_bearer_token_when_one_is_set(
    guarded_server: ServerProcess,
) -> None:
    async with async_client(guarded_server.url) as client:
        missing = await refusal(client)
        wrong = await refusal(client, headers={"Authorization": "Bearer nope-nope-nope"})
        for response in (missing, wrong):
            assert response.status_code == 401
            assert response.json()["error"]
        async with Watch(client, headers=BEARER) as watch:
            created = await client.post("/registry/vms", json=vm("auth-1"), headers=BEARER)
            await watch.until_id(created.json()["revision"])
        assert watch.ids == [created.json()["revision"]]


async def test_past_the_subscriber_cap_the_stream_is_refused_with_503(
    guarded_server: ServerProcess,
) -> None:
    async with async_client(guarded_server.url, headers=BEARER) as client:

        async def room() -> bool:
            return await subscribers(client) == 0

        await eventually(room, what="earlier streams to be released")
        async with Watch(client), Watch(client):
            refused = await refusal(client)
            assert refused.status_code == 503
            assert "limit of 2 subscribers" in refused.json()["error"]
            assert refused.headers["retry-after"]
        # Once they hang up, there is room again.
        await eventually(room, what="the closed streams to be released")
        async with Watch(client) as watch:
            assert watch.response is not None and watch.response.status_code == 200


# -- history gone ------------------------------------------------------------------------------


def _compact(db: Path, before: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vm_registry.cli.main", "compact", "--db", backend.target(db),
         "--before", str(before)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def test_a_resume_point_before_the_compacted_log_is_a_410(
    start_server: StartServer, tmp_path: Path
) -> None:
    db = tmp_path / "registry.db"
    server: ServerProcess = start_server(db=db)
    async with async_client(server.url) as client:
        await register(client, "old-1")
        for _ in range(5):
            await beat(client, "old-1")
        _compact(db, before=4)  # while the server runs, as operators do

        gone = await refusal(client, {"after": 1})
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/json"
        assert "older than the oldest event" in gone.json()["error"]
        also_gone = await refusal(client, headers={"Last-Event-ID": "2"})
        assert also_gone.status_code == 410

        # The compaction point itself is still a valid resume point: nothing after it is gone.
        end = await head(client)
        async with Watch(client, {"after": 3}) as watch:
            await watch.until_id(end)
        assert watch.ids == list(range(4, end + 1))
