"""What a server's log says about leadership: a lone server says which lease it holds and what
it does with it (not "this replica is now the leader", which read as if replicas were
configured), and names the file it locks on SQLite; a second server on the same log says that
the other one does that work."""

from __future__ import annotations

from pathlib import Path

from tests.support import backend
from tests.support.polling import eventually
from tests.support.server import ServerProcess

WORK = "marking silent VMs stale, snapshots, health checks"


def test_a_lone_server_says_what_it_holds_and_why(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    server = ServerProcess(db).start()
    try:
        eventually(lambda: "holding " in server.output(), what="the leadership line")
        said = server.output()
    finally:
        server.stop()
    assert "is now the leader" not in said
    assert f"this server does the work only one server on its log may do ({WORK})" in said
    if not backend.ON_POSTGRES:
        lock = Path(f"{db}.leader")
        assert f"holding the lock file {lock}:" in said
        assert lock.exists() and lock.stat().st_size == 0
    else:
        assert "holding the advisory lock on " in said


def test_a_second_server_on_the_same_log_says_the_first_does_that_work(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    first = ServerProcess(db).start()
    try:
        eventually(lambda: "holding " in first.output(), what="the first server's lease")
        second = ServerProcess(db).start()
        try:
            said = second.output()
        finally:
            second.stop()
    finally:
        first.stop()
    assert "another server on this log holds " in said
    assert f"does the work only one may do ({WORK}); this one serves requests" in said
    assert "holding " not in said
