"""Retention on a running server (issue #23): under continuous writes old events leave the live
log, every request is answered without a 5xx, what was dropped is archived, the archives and the
live log verify as one chain, and replay answers for a time only the archives still hold.

The scenario runs once; each test checks one thing it saw.
"""

from __future__ import annotations

import time
from collections import Counter
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
from tests.retention.run import Beats, retained, server, wait_for
from tests.support import backend
from vm_registry.domain.timestamps import to_iso


@dataclass
class Seen:
    db: Path
    archive: Path
    as_of: str = ""  # a time whose events only the archives hold by the end
    fleet_then: list[dict[str, Any]] = field(default_factory=list)  # the fleet at `as_of`
    codes: Counter[int] = field(default_factory=Counter)
    window: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    metrics: str = ""
    verify: CompletedProcess[str] | None = None
    replay: CompletedProcess[str] | None = None
    replay_unarchived: CompletedProcess[str] | None = None
    history: CompletedProcess[str] | None = None
    startup_log: str = ""


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    folder = tmp_path_factory.mktemp("retention")
    seen = Seen(db=folder / "registry.db", archive=folder / "archive")
    live = server(seen.db, seen.archive).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for name in ("vm-a", "vm-b", "vm-c"):
                assert http.post("/registry/vms", json=vm(name)).status_code == 201
            time.sleep(0.05)  # the writer's clock has moved past the registrations
            seen.as_of = to_iso(time.time_ns() // 1_000_000)
            seen.fleet_then = http.get("/registry/vms").json()["vms"]
            time.sleep(0.05)
            kept = int(http.get("/registry/vms").headers["X-Registry-Revision"])
            http.patch("/registry/vms/vm-c", json={"status": "paused"})
            http.delete("/registry/vms/vm-b")
            with Beats(live.url, ["vm-a", "vm-c"]) as beats:
                # Until the registrations, the patch and a few steps after are gone.
                wait_for(lambda: retained(http)["oldestSeq"] > kept + 400)
            seen.codes = beats.codes
            # With the writes stopped, the age policy catches up to the newest event, which
            # always stays: from then on the window stands still while we look at it.
            head = int(http.get("/registry/vms").headers["X-Registry-Revision"])
            wait_for(lambda: retained(http)["oldestSeq"] == head)
            seen.window = retained(http)
            first = seen.window["oldestSeq"]
            for name, path, params in [
                ("events from seq 1", "/registry/events", {"after": 0}),
                ("at the window's edge", "/registry/vms", {"at": first - 1}),
                ("at before the window", "/registry/vms", {"at": first - 2}),
                ("asOf before the window", "/registry/vms", {"asOf": seen.as_of}),
            ]:
                seen.answers[name] = http.get(path, params=params)
            with http.stream("GET", "/registry/stream", params={"after": 1}) as stream:
                seen.answers["stream from seq 1"] = stream
                stream.read()
            seen.metrics = http.get("/metrics").text
        assert live.stop() == 0
        seen.startup_log = live.output()
        target = backend.target(seen.db)
        seen.verify = cli("verify", "--db", target, "--archive-dir", str(seen.archive))
        seen.replay = cli("replay", "--db", target, "--archive-dir", str(seen.archive),
                          "--as-of", seen.as_of)  # fmt: skip
        seen.replay_unarchived = cli("replay", "--db", target, "--as-of", seen.as_of)
        seen.history = cli("replay", "--db", target, "--archive-dir", str(seen.archive),
                           "--vm", "vm-b")  # fmt: skip
        yield seen
    finally:
        live.kill()


def test_no_request_got_a_5xx_while_retention_ran(seen: Seen) -> None:
    assert seen.codes[200] > 0
    assert set(seen.codes) == {200}, seen.codes


def test_old_events_left_the_live_log(seen: Seen) -> None:
    assert seen.window["oldestSeq"] > 1
    assert seen.window["droppedEvents"] >= seen.window["oldestSeq"] - 1
    assert seen.window["archived"] is True
    answer = seen.answers["events from seq 1"]
    assert answer.status_code == 410
    assert "compacted" in answer.json()["error"]


def test_a_feed_resume_before_the_cut_is_410(seen: Seen) -> None:
    assert seen.answers["stream from seq 1"].status_code == 410


def test_time_travel_serves_the_window_edge_and_410_before_it(seen: Seen) -> None:
    assert seen.answers["at the window's edge"].status_code == 200
    assert seen.answers["at before the window"].status_code == 410
    assert seen.answers["asOf before the window"].status_code == 410


def test_every_dropped_event_is_in_an_archive(seen: Seen) -> None:
    names = sorted(path.name for path in seen.archive.iterdir())
    assert names, "no archive written"
    assert names[0].startswith("events-000000000001-")
    assert not [name for name in names if name.endswith(".partial")]


def test_the_archives_and_the_live_log_verify_as_one_chain(seen: Seen) -> None:
    assert seen.verify is not None
    assert seen.verify.returncode == 0, seen.verify.stderr
    assert f"archives in {seen.archive}: " in seen.verify.stdout
    assert "events 1.." in seen.verify.stdout
    assert "chained to the live log" in seen.verify.stdout


def test_replay_answers_a_time_only_the_archives_hold(seen: Seen) -> None:
    assert seen.replay is not None
    assert seen.replay.returncode == 0, seen.replay.stderr
    replayed = orjson.loads(seen.replay.stdout)["vms"]
    assert replayed == seen.fleet_then
    assert [v["id"] for v in replayed] == ["vm-c", "vm-b", "vm-a"]


def test_replay_without_the_archives_says_that_time_was_dropped(seen: Seen) -> None:
    assert seen.replay_unarchived is not None
    assert seen.replay_unarchived.returncode == 2
    assert "compacted" in seen.replay_unarchived.stderr


def test_a_vms_history_reaches_into_the_archives(seen: Seen) -> None:
    assert seen.history is not None
    assert seen.history.returncode == 0, seen.history.stderr
    types = [e["type"] for e in orjson.loads(seen.history.stdout)["events"]]
    assert types == ["vm.registered", "vm.deregistered"]


def test_metrics_show_the_window_drops_and_archives(seen: Seen) -> None:
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in seen.metrics.splitlines()
        if line.startswith("vm_registry_retention_")
    }
    assert values["vm_registry_retention_oldest_seq"] == seen.window["oldestSeq"]
    assert values["vm_registry_retention_dropped_events_total"] > 0
    assert values["vm_registry_retention_archived"] == 1
    assert values["vm_registry_retention_archive_files"] >= 1
    assert values["vm_registry_retention_archive_bytes"] > 0
    assert values["vm_registry_retention_steps_total"] >= 1
    assert "vm_registry_retention_last_step_seconds" in values
    assert "vm_registry_retention_oldest_timestamp_seconds" in values
