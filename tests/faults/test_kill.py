"""kill -9 under full write load, over and over, on the same file.

Each round: four clients write as fast as the server answers; once it has acknowledged some
writes, and after a random 0-0.5 s more, the server is killed with SIGKILL (no shutdown hook
runs, a group commit or a snapshot may be half done); it restarts on the same database, and the
whole history is checked against the ledger of every write it ever acknowledged
(tests/faults/audit.py).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import httpx
import pytest

from tests.faults import audit
from tests.faults.load import Ledger, Writers
from tests.support.server import ServerProcess

ROUNDS = int(os.environ.get("VM_REGISTRY_KILL_ROUNDS", "20"))
# Small, so snapshots are written (and interrupted) during the run, and restarts load them.
SERVE_ARGS = ["--snapshot-every", "97"]


@pytest.mark.timeout(600)  # 20 restarts; each takes seconds on a busy machine
def test_acknowledged_writes_survive_repeated_kill_9(db_path: Path) -> None:
    rng = random.Random(int(os.environ.get("VM_REGISTRY_KILL_SEED", "8")))
    ledger = Ledger()
    server = ServerProcess(db_path, args=SERVE_ARGS).start()
    try:
        for round_ in range(1, ROUNDS + 1):
            with Writers(server.url, f"r{round_}", threads=4, seed=round_) as writers:
                writers.wait_for_acks(25)
                time.sleep(rng.uniform(0.0, 0.5))
                server.kill()
            ledger.merge(writers.ledger)
            assert not ledger.failures, ledger.failures[:5]
            assert ledger.server_errors == 0, ledger.statuses

            server = ServerProcess(db_path, args=SERVE_ARGS).start()
            with httpx.Client(base_url=server.url, timeout=30) as http:
                events = audit.all_events(http)
                vms = audit.projection(http)
            audit.assert_gap_free(events)
            audit.assert_lifecycles(events)
            audit.assert_ledger_holds(ledger, events, vms)
            last = round_ == ROUNDS  # the CLI as a real subprocess once; in process otherwise
            audit.verify(db_path, subprocess_=last)
            assert audit.comparable(audit.replay(db_path, subprocess_=last)) == audit.comparable(
                vms
            ), f"round {round_}: the projection differs from a full replay"
        assert len(ledger.acks) > ROUNDS * 20, "the load was too light to prove anything"
        print(
            f"\nkill -9: {ROUNDS} rounds survived, {len(ledger.acks)} acknowledged writes "
            f"checked, {len(ledger.unknown)} in flight at a kill, {len(events)} events in the log"
        )
    finally:
        server.kill()
