"""Faults of replicas on one log, as one suite run against each backend: a killed leader, kill -9
under writes, a paused replica. Each test gets a fresh log (`target`) and its own servers.

Every wait is bounded; the counts are kept small so the suite stays in the default run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import vm
from tests.feed.sse import Watch
from tests.replicas.cluster import FAST, Cluster, cluster, eventually, whole_log

PAUSE_SECONDS = float(os.environ.get("VM_REGISTRY_PAUSE_SECONDS", "5"))


def new_id() -> str:
    return f"vm-{uuid.uuid4().hex[:10]}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vm_registry.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class Writers:
    """One thread per replica, writing as fast as it is answered, recording what was
    acknowledged (the event's seq and VM) and every status it got."""

    def __init__(self, replicas: Cluster) -> None:
        self.replicas = replicas
        self.acknowledged: list[tuple[int, str, str]] = []  # (seq, type, vm id)
        self.statuses: list[int] = []
        self.errors: list[str] = []  # the bodies of 5xx answers
        self.timeouts = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(i,), daemon=True)
            for i in range(len(replicas.replicas))
        ]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _write(self, index: int) -> None:
        mine: list[str] = []
        with httpx.Client(timeout=5) as http:
            while not self._stop.is_set():
                url = self.replicas.replicas[index].url  # follows a restart
                try:
                    if not mine or random.random() < 0.3:
                        vm_id = new_id()
                        answer = http.post(f"{url}/registry/vms", json=vm(vm_id))
                        kind = "vm.registered"
                        if answer.status_code == 201:
                            mine.append(vm_id)
                    else:
                        vm_id = random.choice(mine)
                        answer = http.post(f"{url}/registry/vms/{vm_id}/heartbeat")
                        kind = "vm.heartbeat"
                except httpx.TimeoutException:
                    self.timeouts += 1  # a hang: never acceptable, even with the log down
                    continue
                except httpx.HTTPError:
                    time.sleep(0.05)  # the replica is down: a real client would retry
                    continue
                self.statuses.append(answer.status_code)
                if answer.status_code >= 500:
                    self.errors.append(answer.text)
                    if answer.status_code == 503:
                        assert answer.headers.get("Retry-After"), answer.headers
                    time.sleep(0.02)
                if answer.is_success:
                    seq = answer.json()["revision"]
                    self.acknowledged.append((seq, kind, vm_id))


def projection(url: str, revision: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/registry/vms", params={"minRevision": revision}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {e["id"]: e["revision"] for e in answer.json()["vms"]}


class FaultSuite:
    target: str  # set by the backend's fixture: a file path or a database URL

    def test_the_leader_killed_another_takes_over_and_marks_a_silence_once(
        self, tmp_path: Path, target: str
    ) -> None:
        args = (*FAST, "--stale-after", "2")
        with cluster(tmp_path, target, 3, args) as replicas:
            first = eventually(replicas.leaders, what="a leader")
            assert len(first) == 1
            silent = new_id()
            url = replicas.urls[(first[0] + 1) % 3]
            assert httpx.post(f"{url}/registry/vms", json=vm(silent)).status_code == 201
            replicas.replicas[first[0]].kill()
            taken = eventually(replicas.leaders, timeout=10, what="another leader")
            assert taken != first and len(taken) == 1

            def marked() -> bool:
                entry = httpx.get(f"{url}/registry/vms/{silent}", timeout=5).json()
                return bool(entry["stale"])

            eventually(marked, timeout=20, what="the silent VM marked stale")
            time.sleep(1.0)  # several reaper intervals of the new leader
            events = httpx.get(
                f"{url}/registry/events", params={"vm": silent, "type": "vm.stale"}
            ).json()["events"]
            assert len(events) == 1, events

    def test_kill_9_of_replicas_under_writes_loses_nothing_acknowledged(
        self, tmp_path: Path, target: str
    ) -> None:
        with cluster(tmp_path, target, 3) as replicas:
            with Writers(replicas) as writers:
                for _ in range(3):
                    time.sleep(random.uniform(0.3, 1.0))
                    victim = random.randrange(3)
                    replicas.replicas[victim].kill()
                    time.sleep(random.uniform(0.1, 0.5))
                    replicas.restart(victim)
                time.sleep(0.5)
            assert writers.acknowledged, writers.statuses
            assert 500 not in writers.statuses
            head = max(seq for seq, _, _ in writers.acknowledged)
            log = whole_log(replicas.urls[0])
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1))  # gap-free
            by_seq = {e["seq"]: (e["type"], e["vmId"]) for e in log}
            for seq, kind, vm_id in writers.acknowledged:
                assert by_seq[seq] == (kind, vm_id), f"acknowledged seq {seq} is not in the log"
            checked = cli("verify", "--db", target)
            assert checked.returncode == 0, checked.stderr + checked.stdout
            replayed = cli("replay", "--db", target, "--format", "json")
            assert replayed.returncode == 0, replayed.stderr
            offline = orjson.loads(replayed.stdout)
            expected = {e["id"]: e["revision"] for e in offline["vms"]}
            final = offline["revision"]
            assert final >= head
            for replica in replicas.alive():
                assert projection(replica.url, final) == expected

    async def test_a_paused_replica_catches_up_and_its_watchers_miss_nothing(
        self, tmp_path: Path, target: str
    ) -> None:
        with cluster(tmp_path, target, 3) as replicas:
            paused = replicas.replicas[2]
            assert paused.proc is not None
            start = max(replicas.health(r)["revision"] for r in replicas.replicas)
            async with (
                httpx.AsyncClient(base_url=paused.url, timeout=30) as client,
                Watch(client, params={"after": start}) as watch,
            ):
                paused.proc.send_signal(signal.SIGSTOP)
                try:
                    written = 0
                    deadline = time.monotonic() + PAUSE_SECONDS
                    async with httpx.AsyncClient(timeout=10) as http:
                        while time.monotonic() < deadline:
                            url = replicas.urls[written % 2]
                            answer = await http.post(f"{url}/registry/vms", json=vm(new_id()))
                            assert answer.status_code == 201, answer.text
                            written += 1
                            await asyncio.sleep(0.01)
                finally:
                    paused.proc.send_signal(signal.SIGCONT)
                end = max(replicas.health(r)["revision"] for r in replicas.replicas[:2])
                await watch.until_id(end, timeout=30)
                assert watch.ids[: end - start] == list(range(start + 1, end + 1))
            eventually(lambda: replicas.health(paused)["lag"] == 0, what="no lag once resumed")

    def test_a_replica_joining_a_running_registry_sees_stale_marks_at_once(
        self, tmp_path: Path, target: str
    ) -> None:
        """No startup grace for a replica started beside a serving one: the registry was not
        down, and every replica must agree on what discover shows."""
        replicas = Cluster(tmp_path, target, 2, (*FAST, "--stale-after", "1"))
        try:
            first = replicas.replicas[0].start()
            silent = new_id()
            assert httpx.post(f"{first.url}/registry/vms", json=vm(silent)).status_code == 201

            def marked(url: str) -> bool:
                entry = httpx.get(f"{url}/registry/vms/{silent}", timeout=5).json()
                return bool(entry["stale"])

            eventually(lambda: marked(first.url), timeout=20, what="the VM marked stale")
            joined = replicas.replicas[1].start()
            assert marked(joined.url)
            assert silent not in {
                e["id"] for e in httpx.get(f"{joined.url}/registry/discover/worker").json()["vms"]
            }
        finally:
            replicas.stop()
