"""`verify --archive-dir` names the first gap, overlap or break in the chain of archives and live
log (issue #23); and retention without an archive directory says that dropped history is lost
(/health, /metrics, the start-up log)."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.audit.logs import cli
from tests.conftest import vm
from tests.retention.run import Beats, retained, server, wait_for
from tests.support import backend


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A stopped registry whose retention wrote at least four archives."""
    folder = tmp_path_factory.mktemp("chain")
    db, archive = folder / "registry.db", folder / "archive"
    live = server(db, archive, "--retain-step", "50").start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
            with Beats(live.url, ["vm-a"]):
                wait_for(lambda: len(list(archive.iterdir())) >= 4)
                wait_for(lambda: retained(http)["oldestSeq"] > 1)
        live.stop()
    finally:
        live.kill()
    yield db, archive


def verify(db: Path, archive: Path) -> tuple[int, str]:
    result = cli("verify", "--db", backend.target(db), "--archive-dir", str(archive))
    return result.returncode, result.stdout + result.stderr


def copy_of(archive: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    return copy, sorted(copy.iterdir())


def test_the_whole_chain_verifies(made: tuple[Path, Path]) -> None:
    code, output = verify(*made)
    assert code == 0, output
    assert "events 1.." in output


def test_a_missing_archive_is_named_as_a_gap(made: tuple[Path, Path], tmp_path: Path) -> None:
    db, archive = made
    copy, files = copy_of(archive, tmp_path)
    files[1].unlink()
    code, output = verify(db, copy)
    assert code == 1
    first, last = (int(part) for part in files[1].name.split(".")[0].split("-")[1:])
    assert f"seqs {first}..{last} are missing: no archive holds them" in output


def test_an_edited_event_is_named(made: tuple[Path, Path], tmp_path: Path) -> None:
    db, archive = made
    copy, files = copy_of(archive, tmp_path)
    with gzip.open(files[2], "rb") as source:
        header, first, *rest = source.read().splitlines()
    row = orjson.loads(first)
    row["vmId"] = "someone-else"
    with gzip.open(files[2], "wb") as target:
        target.write(b"\n".join([header, orjson.dumps(row), *rest]) + b"\n")
    code, output = verify(db, copy)
    assert code == 1
    assert f"event {row['seq']} breaks the archive's hash chain" in output


def test_the_last_archive_must_meet_the_live_log(made: tuple[Path, Path], tmp_path: Path) -> None:
    db, archive = made
    copy, files = copy_of(archive, tmp_path)
    # The fixture's server may have stopped between writing a step's archive and committing
    # its cut; verify leaves such an archive out (the live log holds its events), so the
    # chain's last archive is the last one it does not leave out.
    code, output = verify(db, copy)
    assert code == 0, output
    chained = [path for path in files if f"archive {path}: left out" not in output]
    chained[-1].unlink()
    code, output = verify(db, copy)
    assert code == 1
    assert "neither an archive nor the live log holds them" in output


def test_without_an_archive_dir_dropped_history_is_said_to_be_lost(tmp_path: Path) -> None:
    live = server(tmp_path / "registry.db", None).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert http.post("/registry/vms", json=vm("vm-a")).status_code == 201
            with Beats(live.url, ["vm-a"]):
                wait_for(lambda: retained(http)["droppedEvents"] > 0)
            assert retained(http)["archived"] is False
            metrics = http.get("/metrics").text
        assert "vm_registry_retention_archived 0.0" in metrics
        assert "dropped history is not archived" in live.output()
    finally:
        live.kill()
