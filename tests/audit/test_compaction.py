"""Compaction against a running server, through the CLI: what it drops answers 410, what it
keeps is unchanged, the log still verifies, and the archive holds exactly what was dropped.

The scenario runs once, in order (the order is the point: the server must notice a compaction
another process made), and records what a client saw at each step; each test checks one of
those observations.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import httpx
import orjson
import pytest

from tests.audit.logs import cli
from tests.conftest import vm
from tests.support import backend
from tests.support.server import ServerProcess
from vm_registry.domain.timestamps import to_iso

CUT = 25  # `compact --before 26` drops seqs 1..25


@dataclass
class Observed:
    before: list[dict[str, Any]] = field(default_factory=list)  # the log before compaction
    lists_before: dict[int, Any] = field(default_factory=dict)  # ?at=R before compaction
    populated: int = 0  # the head before the live runs
    verify_live: CompletedProcess[str] | None = None
    replay_live: CompletedProcess[str] | None = None
    compact: CompletedProcess[str] | None = None
    stream_before_cut: tuple[int, Any] = (0, None)
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    lists_after: dict[int, Any] = field(default_factory=dict)
    archive: Path = Path()
    db: Path = Path()


def populate(http: httpx.Client) -> None:
    for name, role in (("vm-a", "worker"), ("vm-b", "infra"), ("vm-c", "worker")):
        assert http.post("/registry/vms", json=vm(name, role=role)).status_code == 201
    for _ in range(10):
        for name in ("vm-a", "vm-b", "vm-c"):
            http.post(f"/registry/vms/{name}/heartbeat")
    http.delete("/registry/vms/vm-b")
    http.post("/registry/vms", json=vm("vm-b", role="golden"))
    http.patch("/registry/vms/vm-c", json={"status": "paused"})
    for _ in range(5):
        http.post("/registry/vms/vm-a/heartbeat")
    http.post("/registry/vms", json=vm("vm-d"))


def while_writing(http: httpx.Client, *args: str) -> CompletedProcess[str]:
    """Run the CLI while another thread keeps the server writing."""
    done = threading.Event()

    def beat() -> None:
        # Bounded, so the whole log still fits the one page of 1,000 events the tests read,
        # however slowly the CLI runs on a busy machine.
        for _ in range(400):
            if done.is_set():
                break
            http.post("/registry/vms/vm-d/heartbeat")

    writer = threading.Thread(target=beat)
    writer.start()
    try:
        return cli(*args)
    finally:
        done.set()
        writer.join()


def stream_status(http: httpx.Client, after: int) -> tuple[int, Any]:
    with http.stream("GET", "/registry/stream", params={"after": after}) as answer:
        if answer.status_code != 200:
            return answer.status_code, orjson.loads(answer.read())
        return answer.status_code, None  # an open stream: do not wait for it


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    folder = tmp_path_factory.mktemp("compaction")
    seen = Observed(db=folder / "registry.db", archive=folder / "dropped.jsonl.gz")
    server = ServerProcess(seen.db, args=["--snapshot-every", "10"]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            populate(http)
            seen.populated = int(http.get("/registry/vms").headers["X-Registry-Revision"])
            seen.verify_live = while_writing(http, "verify", "--db", backend.target(seen.db))
            seen.replay_live = while_writing(http, "replay", "--db", backend.target(seen.db))
            seen.before = http.get("/registry/events", params={"limit": 1000}).json()["events"]
            head = seen.before[-1]["seq"]
            # The first question warms the server's time-travel cache with a state from
            # before the cut; answers after the compaction must not be built on it.
            for point in (3, CUT, CUT + 1, CUT + 7, head):
                seen.lists_before[point] = http.get("/registry/vms", params={"at": point}).json()
            seen.compact = cli(
                "compact", "--db", backend.target(seen.db), "--before", str(CUT + 1),
                "--archive", str(seen.archive),
            )  # fmt: skip
            # Straight after the compaction, before anything else could make the server look.
            seen.stream_before_cut = stream_status(http, after=10)
            for name, path, params in [
                ("events before the cut", "/registry/events", {"after": 10}),
                ("events from the cut", "/registry/events", {"after": CUT, "limit": 1000}),
                ("events", "/registry/events", {"limit": 1000}),
                ("at before the cut", "/registry/vms", {"at": CUT - 1}),
                ("vm at before the cut", "/registry/vms/vm-a", {"at": 3}),
                ("asOf before the cut", "/registry/vms", {"asOf": seen.before[4]["at"]}),
                ("history", "/registry/vms/vm-b/history", {}),
            ]:
                seen.answers[name] = http.get(path, params=params)
            for point in seen.lists_before:
                if point >= CUT:
                    answer = http.get("/registry/vms", params={"at": point})
                    seen.lists_after[point] = answer.json()
            yield seen
    finally:
        server.kill()


def test_verify_works_on_the_live_file_while_the_server_writes(seen: Observed) -> None:
    assert seen.verify_live is not None
    assert seen.verify_live.returncode == 0, seen.verify_live.stderr
    assert seen.verify_live.stdout.startswith("ok: ")


def test_replay_works_on_the_live_file_while_the_server_writes(seen: Observed) -> None:
    assert seen.replay_live is not None
    assert seen.replay_live.returncode == 0, seen.replay_live.stderr
    body = orjson.loads(seen.replay_live.stdout)
    assert body["revision"] >= seen.populated
    assert [v["id"] for v in body["vms"]] == ["vm-d", "vm-b", "vm-c", "vm-a"]


def test_compact_reports_what_it_dropped(seen: Observed) -> None:
    assert seen.compact is not None
    assert seen.compact.returncode == 0, seen.compact.stderr
    assert seen.compact.stdout.strip() == (
        f"compacted through seq {CUT}: {CUT} events dropped, {CUT} archived to {seen.archive}"
    )


def test_the_log_still_verifies_after_compaction(seen: Observed) -> None:
    result = cli("verify", "--db", backend.target(seen.db))
    assert result.returncode == 0, result.stderr
    assert "ok: " in result.stdout


def test_the_archive_verifies_against_the_chain(seen: Observed) -> None:
    result = cli("verify", "--db", backend.target(seen.db), "--archive", str(seen.archive))
    assert result.returncode == 0, result.stderr
    assert f"archive {seen.archive}: events 1..{CUT} verified" in result.stdout


def test_the_archive_holds_exactly_the_events_the_api_showed_before(seen: Observed) -> None:
    with gzip.open(seen.archive, "rb") as lines:
        header, *rows = [orjson.loads(line) for line in lines]
    assert header["archive"] == 1
    archived = [
        {key: row[key] for key in ("seq", "type", "vmId", "actor", "data")}
        | {"at": to_iso(row["at"])}
        for row in rows
    ]
    assert archived == seen.before[:CUT]


def test_reading_the_log_from_before_the_cut_is_410(seen: Observed) -> None:
    answer = seen.answers["events before the cut"]
    assert answer.status_code == 410
    assert "compacted" in answer.json()["error"]


def test_the_log_from_the_cut_on_is_unchanged(seen: Observed) -> None:
    assert seen.answers["events from the cut"].json()["events"] == seen.before[CUT:]
    assert seen.answers["events"].json()["events"][0] == seen.before[CUT]


@pytest.mark.parametrize(
    "name", ["at before the cut", "vm at before the cut", "asOf before the cut"]
)
def test_time_travel_before_the_cut_is_410(seen: Observed, name: str) -> None:
    answer = seen.answers[name]
    assert answer.status_code == 410
    assert "compacted" in answer.json()["error"]


def test_time_travel_from_the_cut_on_is_unchanged(seen: Observed) -> None:
    assert seen.lists_after
    for point, body in seen.lists_after.items():
        assert body == seen.lists_before[point], point


def test_history_keeps_the_events_after_the_cut(seen: Observed) -> None:
    answer = seen.answers["history"]
    assert answer.status_code == 200
    kept = [e for e in seen.before[CUT:] if e["vmId"] == "vm-b"]
    assert answer.json()["events"] == kept


def test_a_stream_resume_from_before_the_cut_is_410_before_the_stream_opens(
    seen: Observed,
) -> None:
    status, body = seen.stream_before_cut
    assert status == 410
    assert "oldest" in body["error"]
