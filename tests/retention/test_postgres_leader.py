"""On PostgreSQL only the leader replica cuts (issue #23): two replicas with retention on, each
with its own archive directory; the leader's archives and the live log verify as one chain,
the other replica writes none and drops nothing, yet sees the window move."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.audit.logs import cli
from tests.conftest import vm
from tests.replicas.cluster import eventually
from tests.retention.run import RETAIN, Beats, retained
from tests.support import postgres
from tests.support.server import ServerProcess


def test_only_the_leader_cuts(tmp_path: Path) -> None:
    with postgres.fresh_database("retention") as url:
        replicas = [
            ServerProcess(
                tmp_path / f"replica-{i}.db",
                target=url,
                args=[*RETAIN, "--archive-dir", str(tmp_path / f"archive-{i}")],
            )
            for i in range(2)
        ]
        try:
            for replica in replicas:
                replica.start()
            health = [httpx.get(f"{r.url}/health", timeout=10).json() for r in replicas]
            assert sorted(h["leader"] for h in health) == [False, True]
            leader = next(i for i, h in enumerate(health) if h["leader"])
            other = 1 - leader
            with httpx.Client(base_url=replicas[other].url, timeout=30) as http:
                assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
                # Writes go through the replica that does not lead; cuts come from the leader.
                with Beats(replicas[other].url, ["vm-a"]) as beats:
                    eventually(lambda: retained(http)["oldestSeq"] > 300, 60, "the window moves")
                follower_window = retained(http)
            assert set(beats.codes) == {200}, beats.codes
            with httpx.Client(base_url=replicas[leader].url, timeout=30) as lead:
                leader_window = retained(lead)
        finally:
            for replica in replicas:
                replica.stop()
                replica.kill()
        assert follower_window["droppedEvents"] == 0
        assert leader_window["droppedEvents"] > 0
        assert not list((tmp_path / f"archive-{other}").iterdir())
        result = cli("verify", "--db", url, "--archive-dir", str(tmp_path / f"archive-{leader}"))
        assert result.returncode == 0, result.stderr
        assert "events 1.." in result.stdout
