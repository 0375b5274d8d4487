"""docs/scale-out.md, "Setting up PostgreSQL", run as written: its SQL blocks, with names of this
test's own (roles are shared by the whole cluster, and other sessions use it), make a role that
owns its database and a replica role with only the grants the page lists. Then a `migrate` into
the database and a replica run as the owner, a second replica (started first, so it leads and
writes snapshots) and a `migrate` out of the database run as the replica role, and the replica
role is shown to have nothing more. The roles and the database are dropped afterwards."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.audit.logs import cli, events_of, fleet_story, write_sync
from tests.support import postgres, requires
from tests.support.polling import eventually
from tests.support.server import ServerProcess

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
SECTION = "## Setting up PostgreSQL"


def setup_blocks() -> list[str]:
    """The ```sql blocks of the section, in order."""
    text = PAGE.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```sql\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def statements(block: str) -> list[str]:
    # One by one: CREATE DATABASE cannot run inside the implicit transaction of a multi-statement
    # query.
    return [line.strip() for line in block.split(";\n") if line.strip()]


def run_as(url: str, block: str) -> None:
    for statement in statements(block):
        postgres.execute_now(url, statement)


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """(owner role = database name, replica role), dropped afterwards."""
    server = requires.postgres_url()
    owner = f"vmreg_roles_{uuid.uuid4().hex[:10]}"
    replica = f"{owner}_replica"
    try:
        yield owner, replica
    finally:
        postgres.drop_database(postgres.with_database(server, owner))
        for role in (replica, owner):
            postgres.execute_now(server, f'DROP ROLE IF EXISTS "{role}"')


def named(block: str, owner: str, replica: str) -> str:
    block = re.sub(r"\bregistry_replica\b", replica, block)
    return re.sub(r"\bregistry\b", owner, block)


def url_as(role: str, database: str) -> str:
    server = requires.postgres_url()
    parts = re.sub(r"^postgresql://[^@/]*@", f"postgresql://{role}@", server)
    return postgres.with_database(parts, database)


def test_the_documented_roles_run_replicas_and_migrate(
    names: tuple[str, str], tmp_path: Path
) -> None:
    owner, replica = names
    server = requires.postgres_url()
    blocks = [named(block, owner, replica) for block in setup_blocks()]
    assert len(blocks) == 3, "the page's setup is three SQL blocks"
    as_owner, as_replica = url_as(owner, owner), url_as(replica, owner)

    run_as(server, blocks[0])  # as a superuser: the owner role and its database
    run_as(server, blocks[1])  # as a superuser: the replica role
    # Before the tables exist the replica role cannot make them, and says so.
    early = ServerProcess(tmp_path / "early.db", target=as_replica)
    with pytest.raises(RuntimeError, match="permission denied"):
        early.start(timeout=30, attempts=1)

    source = tmp_path / "registry.db"
    write_sync(source, events_of(fleet_story()), snapshots_at=(10,))
    moved = cli("migrate", "--from", str(source), "--to", as_owner)
    assert moved.returncode == 0, moved.stderr
    migrated = int(moved.stdout.split("head: ")[1].split(":")[0])
    run_as(as_owner, blocks[2])  # as the owner, in its database: the replica's grants

    # The replica role starts first, so it holds the lease and writes the snapshots.
    led = ServerProcess(tmp_path / "replica.db", target=as_replica,
                        args=["--snapshot-every", "3"]).start()  # fmt: skip
    owned = ServerProcess(tmp_path / "owner.db", target=as_owner).start()
    try:
        with (
            httpx.Client(base_url=led.url, timeout=10) as one,
            httpx.Client(base_url=owned.url, timeout=10) as other,
        ):
            assert one.get("/health").json()["leader"] is True
            for index in range(8):
                body = {"id": f"role-{index}", "name": "n", "role": "worker",
                        "address": f"role-{index}.vm.vers.sh", "registeredBy": "tests"}  # fmt: skip
                written = (one if index % 2 else other).post("/registry/vms", json=body)
                assert written.status_code == 201, written.text
                revision = written.headers["x-registry-revision"]
                assert one.post(f"/registry/vms/role-{index}/heartbeat").status_code == 200
            seen = other.get("/registry/vms", params={"minRevision": revision}).json()
            assert {f"role-{i}" for i in range(8)} <= {vm["id"] for vm in seen["vms"]}
            assert one.get("/metrics").status_code == 200
            eventually(lambda: _snapshots_beyond(as_owner, migrated), what="the leader's snapshot")
    finally:
        led.stop()
        owned.stop()
    for process in (led, owned):
        assert "permission denied" not in process.output()

    back = cli("migrate", "--from", as_replica, "--to", str(tmp_path / "back.db"))
    assert back.returncode == 0, back.stderr
    assert "verified" in back.stdout
    for forbidden in ("CREATE TABLE extra (x int)", "DROP TABLE events", "TRUNCATE events",
                      "DELETE FROM meta", "UPDATE meta SET value = value"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            postgres.execute_now(as_replica, forbidden)


def _snapshots_beyond(url: str, seq: int) -> bool:
    async def read() -> list[int]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return [row[0] for row in await conn.fetch("SELECT seq FROM snapshots")]
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:  # the test has no loop of its own
        return any(found > seq for found in pool.submit(asyncio.run, read()).result(timeout=30))
