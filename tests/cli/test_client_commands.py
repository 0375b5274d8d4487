"""Each client command, in table and in JSON output, against a real server.

Output formats run through `main` in this process (`cli`); exit statuses, stderr and the
streaming `watch` run as real subprocesses (`run_cli`, `_watch`).
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.cli.conftest import CLI, Run, clean_env, run_cli
from tests.support.server import ServerProcess, free_port
from vm_registry.client import RegistryClient

Cli = Callable[..., Run]


@pytest.fixture
def url(shared_server: ServerProcess) -> str:
    return shared_server.url


@pytest.fixture
def registry(url: str) -> Iterator[RegistryClient]:
    with RegistryClient(url) as client:
        yield client


def test_register_in_table_and_json(cli: Cli, url: str, vm_id: str) -> None:
    table = cli(
        "register", "--url", url, "--id", vm_id, "--name", "billing", "--role", "lieutenant",
        "--registered-by", "orchestrator", "--service", "pi-rpc:3001",
        "--service", "board:3000:/health", "--metadata", '{"task": "invoices"}',
    )  # fmt: skip
    assert table.code == 0, table.err
    assert "name:          billing" in table.out
    assert f"address:       {vm_id}.vm.vers.sh" in table.out
    assert "pi-rpc:3001, board:3000/health" in table.out
    assert 'metadata:      {"task":"invoices"}' in table.out

    as_json = cli(
        "register", "--url", url, "--id", vm_id + "-2", "--name", "n", "--json",
        env={"VERS_AGENT_ROLE": "golden"},
    )  # fmt: skip
    body = json.loads(as_json.out)
    assert (body["id"], body["role"], body["registeredBy"]) == (vm_id + "-2", "golden", "cli")


def test_register_refusals(cli: Cli, url: str, vm_id: str) -> None:
    cli("register", "--url", url, "--id", vm_id)
    again = cli("register", "--url", url, "--id", vm_id)
    assert again.code == 1
    assert again.out == ""
    assert "conflict" in again.err and vm_id in again.err

    bad = cli("register", "--url", url, "--id", vm_id, "--metadata", "[1]")
    assert bad.code == 2 and "JSON object" in bad.err
    bad_service = cli("register", "--url", url, "--id", vm_id, "--service", "web")
    assert bad_service.code == 2 and "name:port" in bad_service.err


def test_list_and_discover(cli: Cli, url: str, registry: RegistryClient, vm_id: str) -> None:
    registry.register(vm_id, "the-lt", "lieutenant", "lt.vm.vers.sh", "me")
    registry.register(vm_id + "-w", "the-worker", "worker", "w.vm.vers.sh", "me", status="paused")

    table = cli("list", "--url", url, "--role", "lieutenant")
    assert table.code == 0
    header, *rows = table.out.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "ROLE", "STATUS"]
    assert any(row.split()[:4] == [vm_id, "the-lt", "lieutenant", "running"] for row in rows)
    assert not any("the-worker" in row for row in rows)

    body = json.loads(cli("list", "--url", url, "--status", "paused", "--json").out)
    assert body["count"] == len(body["vms"])
    assert vm_id + "-w" in {vm["id"] for vm in body["vms"]}

    assert vm_id in cli("discover", "lieutenant", "--url", url).out
    found = json.loads(cli("discover", "worker", "--url", url, "--json").out)
    assert vm_id + "-w" not in {vm["id"] for vm in found["vms"]}


def test_get_update_heartbeat_deregister(
    cli: Cli, url: str, registry: RegistryClient, vm_id: str
) -> None:
    registry.register(vm_id, "n", "worker", "a", "me")

    assert f"id:            {vm_id}" in cli("get", vm_id, "--url", url).out
    shown = json.loads(cli("get", "--url", url, "--json", env={"VERS_VM_ID": vm_id}).out)
    assert shown["id"] == vm_id

    updated = cli("update", vm_id, "--url", url, "--status", "paused", "--name", "m").out
    assert "status:        paused" in updated and "name:          m" in updated
    patched = cli("update", "--id", vm_id, "--url", url, "--metadata", '{"a": 1}', "--json")
    assert json.loads(patched.out)["metadata"] == {"a": 1}

    assert cli("heartbeat", vm_id, "--url", url).out.startswith(f"heartbeat {vm_id} at ")
    assert json.loads(cli("heartbeat", vm_id, "--url", url, "--json").out)["id"] == vm_id

    assert cli("deregister", vm_id, "--url", url).out.strip() == f"deregistered {vm_id}"
    registry.register(vm_id, "n", "worker", "a", "me")
    assert json.loads(cli("deregister", vm_id, "--url", url, "--json").out)["deleted"]


def test_events_and_history(cli: Cli, url: str, registry: RegistryClient, vm_id: str) -> None:
    registry.register(vm_id, "n", "worker", "a", "me")
    registry.heartbeat(vm_id)

    table = cli("history", vm_id, "--url", url).out
    assert "vm.registered" in table and "vm.heartbeat" in table
    body = json.loads(cli("history", vm_id, "--url", url, "--json").out)
    assert [e["type"] for e in body["events"]] == ["vm.registered", "vm.heartbeat"]

    events = json.loads(cli("events", "--url", url, "--vm", vm_id, "--json").out)
    assert events["count"] == 2
    assert vm_id in cli("events", "--url", url, "--vm", vm_id, "--type", "vm.heartbeat").out


def test_errors_print_the_server_message_and_exit_non_zero(url: str) -> None:
    unknown = run_cli("heartbeat", "no-such-vm", "--url", url)
    assert (unknown.code, unknown.out) == (1, "")
    assert "not found" in unknown.err and "no-such-vm" in unknown.err

    down = run_cli("list", env={"VERS_INFRA_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.code == 1 and "unreachable" in down.err


def test_a_missing_id_is_a_usage_error(cli: Cli, url: str) -> None:
    no_id = cli("get", "--url", url)
    assert no_id.code != 0 and "VERS_VM_ID" in no_id.err


def _watch(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "watch", "--url", url, "--max-delay", "0.2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    finally:
        proc.communicate()  # drains and closes the pipes


@pytest.mark.timeout(30)
def test_watch_json_prints_one_object_a_line_across_a_restart(server: ServerProcess) -> None:
    client = RegistryClient(server.url)
    client.register("a", "a", "worker", "a", "me")
    watcher = _watch(server.url, "--json", "--snapshot")
    try:
        assert watcher.stdout is not None
        snapshot = json.loads(watcher.stdout.readline())
        assert snapshot["type"] == "snapshot" and [v["id"] for v in snapshot["vms"]] == ["a"]
        client.heartbeat("a")
        assert json.loads(watcher.stdout.readline())["seq"] == 2

        server.stop()
        server.start()
        client.register("b", "b", "worker", "b", "me")
        client.deregister("b")
        lines = [json.loads(watcher.stdout.readline()) for _ in range(2)]
        assert [(e["seq"], e["type"]) for e in lines] == [
            (3, "vm.registered"),
            (4, "vm.deregistered"),
        ]
        assert lines[0]["vm"]["id"] == "b" and lines[1]["vm"] is None
    finally:
        assert _stop(watcher) == 0
        client.close()


@pytest.mark.timeout(30)
def test_watch_table(url: str, registry: RegistryClient, vm_id: str) -> None:
    registry.register(vm_id, "n", "worker", "a", "me")
    watcher = _watch(url, "--vm", vm_id, "--after", "0")
    try:
        assert watcher.stdout is not None
        line = watcher.stdout.readline()
        assert "vm.registered" in line and vm_id in line
    finally:
        assert _stop(watcher) == 0


def test_list_discover_and_watch_take_a_selector(
    cli: Cli, url: str, registry: RegistryClient, vm_id: str
) -> None:
    registry.register(vm_id, "n", "worker", "a", "me", metadata={"task": vm_id, "tier": "gold"})
    registry.register(vm_id + "-b", "n", "worker", "a", "me", metadata={"task": vm_id})
    listed = json.loads(cli("list", "--url", url, "-l", f"task={vm_id},tier", "--json").out)
    assert [vm["id"] for vm in listed["vms"]] == [vm_id]
    found = cli("discover", "worker", "--url", url, "--selector", f"task={vm_id},!tier", "--json")
    assert [vm["id"] for vm in json.loads(found.out)["vms"]] == [vm_id + "-b"]
    bad = cli("list", "--url", url, "-l", "task in x")
    assert bad.code != 0 and "selector is malformed at character 9" in bad.err

    watcher = _watch(url, "--json", "--after", "0", "-l", f"task={vm_id},tier=gold")
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())
        assert (first["type"], first["vmId"]) == ("vm.registered", vm_id)
        registry.update(vm_id, metadata={"task": vm_id})
        left = json.loads(watcher.stdout.readline())
        assert (left["type"], left["vmId"], left["left"]) == ("vm.updated", vm_id, True)
    finally:
        assert _stop(watcher) == 0


def test_wait_for_a_vm_or_a_role_takes_a_selector(
    cli: Cli, url: str, registry: RegistryClient, vm_id: str
) -> None:
    registry.register(vm_id, "n", "worker", "a", "me", metadata={"task": vm_id})
    gold = f"task={vm_id},tier=gold"
    waiting = subprocess.Popen(
        [*CLI, "wait", vm_id, "--url", url, "-l", gold, "--json", "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    registry.update(vm_id, metadata={"task": vm_id, "tier": "gold"})  # now it matches
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert json.loads(out)["metadata"] == {"task": vm_id, "tier": "gold"}

    role = cli("wait", "--role", "worker", "--url", url, "-l", gold, "--json")
    assert [vm["id"] for vm in json.loads(role.out)["vms"]] == [vm_id]
    never = run_cli("wait", vm_id, "--url", url, "-l", f"task={vm_id},tier=tin", "--timeout", "1")
    assert never.code == 1 and "timed out" in never.err and "tier=tin" in never.err
    bad = cli("wait", vm_id, "--url", url, "-l", "task in x")
    assert bad.code != 0 and "selector is malformed at character 9" in bad.err
    both = cli("wait", vm_id, "--role", "worker", "--url", url)
    assert both.code != 0 and "not both" in both.err
