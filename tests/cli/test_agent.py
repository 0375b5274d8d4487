"""`vm-registry agent`: registered while the work runs, heartbeating, `stopped` after."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import CLI, clean_env
from tests.support.polling import eventually
from tests.support.server import ServerProcess, free_port
from vm_registry.client import Entry, NotFound, RegistryClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def registry(shared_server: ServerProcess) -> Iterator[RegistryClient]:
    with RegistryClient(shared_server.url) as client:
        yield client


def agent(
    url: str, vm_id: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "agent", "--url", url, "--heartbeat-interval", "0.1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env({"VERS_VM_ID": vm_id, **(env or {})}),
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def wait_for(registry: RegistryClient, vm_id: str, check: Callable[[Entry], bool]) -> Entry:
    def reached() -> Entry | None:
        try:
            entry = registry.get(vm_id)
        except NotFound:
            return None
        return entry if check(entry) else None

    found: Entry = eventually(reached, timeout=15, what="the entry's expected state")
    return found


def until_flag(flag: Path, code: int) -> list[str]:
    """A child that works until the test says so, then exits with `code`."""
    return ["--", "sh", "-c", f'while [ ! -e "{flag}" ]; do sleep 0.05; done; exit {code}']


def test_wraps_a_command(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str, tmp_path: Path
) -> None:
    flag = tmp_path / "done"
    proc = agent(
        shared_server.url, vm_id, "--service", "pi-rpc:3001", *until_flag(flag, 3),
        env={"VERS_AGENT_ROLE": "lieutenant"},
    )  # fmt: skip

    first = wait_for(registry, vm_id, lambda e: e.status == "running")
    assert (first.role, first.address) == ("lieutenant", f"{vm_id}.vm.vers.sh")
    assert first.metadata is not None and first.metadata["pid"] > 0
    assert first.metadata["startedAt"].endswith("Z")
    assert [s.name for s in first.services or ()] == ["pi-rpc"]
    wait_for(registry, vm_id, lambda e: e.last_seen > first.last_seen)  # heartbeats
    assert proc.poll() is None

    flag.touch()
    code, _, err = finish(proc)

    assert code == 3, err
    assert registry.get(vm_id).status == "stopped"


def test_falls_back_to_patch_when_already_registered(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str, tmp_path: Path
) -> None:
    registry.register(
        vm_id, "billing", "lieutenant", "custom.addr", "orchestrator",
        status="stopped", metadata={"task": "invoices"},
    )  # fmt: skip
    flag = tmp_path / "done"
    proc = agent(shared_server.url, vm_id, *until_flag(flag, 0))

    entry = wait_for(registry, vm_id, lambda e: e.status == "running")
    assert (entry.name, entry.role, entry.address) == ("billing", "lieutenant", "custom.addr")
    assert entry.metadata is not None and entry.metadata["task"] == "invoices"
    assert "pid" in entry.metadata

    flag.touch()
    code, _, err = finish(proc)
    assert code == 0, err
    assert "already registered" in err
    assert registry.get(vm_id).status == "stopped"


def test_sigterm_is_forwarded_and_the_entry_stopped(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str
) -> None:
    child = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(7)); "
    child += "print('ready', flush=True); time.sleep(30)"
    proc = agent(shared_server.url, vm_id, "--", sys.executable, "-c", child)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    wait_for(registry, vm_id, lambda e: e.status == "running")

    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)

    assert code == 7, err  # the child handled SIGTERM its own way, and its code passed through
    assert registry.get(vm_id).status == "stopped"


def test_a_child_killed_by_a_signal_exits_128_plus_n(shared_server: ServerProcess) -> None:
    proc = agent(shared_server.url, "vm-killed", "--", "sh", "-c", "kill -KILL $$")
    code, _, _ = finish(proc)
    assert code == 128 + signal.SIGKILL


def test_without_a_command_it_runs_until_signalled(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str
) -> None:
    proc = agent(shared_server.url, vm_id)
    wait_for(registry, vm_id, lambda e: e.status == "running")

    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)

    assert code == 0, err
    assert registry.get(vm_id).status == "stopped"


def test_an_unreachable_registry_never_fails_the_child(vm_id: str) -> None:
    started = time.monotonic()
    proc = agent(f"http://127.0.0.1:{free_port()}", vm_id, "--", "sh", "-c", "sleep 2; exit 5")
    code, _, err = finish(proc)

    assert code == 5
    assert "cannot register" in err
    assert time.monotonic() - started < 10


def test_a_missing_command_or_id(shared_server: ServerProcess) -> None:
    missing = agent(shared_server.url, "vm-x", "--", "/no/such/program")
    assert finish(missing)[0] == 127
    no_id = subprocess.run(
        [*CLI, "agent", "--url", shared_server.url, "--", "true"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert no_id.returncode == 2 and "VERS_VM_ID" in no_id.stderr


@pytest.mark.parametrize("verbose", [True, False])
def test_its_log_shows_the_vm_not_the_transport(
    shared_server: ServerProcess, registry: RegistryClient, vm_id: str, tmp_path: Path,
    verbose: bool,
) -> None:  # fmt: skip
    flag = tmp_path / "done"
    proc = agent(shared_server.url, vm_id, *(["-v"] if verbose else []), *until_flag(flag, 0))
    first = wait_for(registry, vm_id, lambda e: e.status == "running")
    wait_for(registry, vm_id, lambda e: e.last_seen > first.last_seen)  # a heartbeat went out
    flag.touch()
    code, _, err = finish(proc)

    assert code == 0, err
    assert f"registered {vm_id}" in err
    assert (f"heartbeat {vm_id}" in err) is verbose
    for transport in ("HTTP Request", "httpcore", "receive_response_headers", "content-type"):
        assert transport not in err
