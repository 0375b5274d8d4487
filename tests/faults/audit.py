"""What every fault test checks afterwards: the log, the ledger of acknowledged writes, the
offline `verify` and `replay`, and the server's projection, all against one another."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.faults.load import DEREGISTERED, REGISTERED, Ledger
from tests.support import backend
from vm_registry.cli.main import main as cli_main

# In process, the CLI prints to the one sys.stdout: callers on several threads take turns.
_CLI_TURN = threading.Lock()


def all_events(http: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = http.get("/registry/events", params={"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        batch = page.json()["events"]
        if not batch:
            return events
        events.extend(batch)
        after = batch[-1]["seq"]


def projection(http: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = http.get("/registry/vms")
    assert answer.status_code == 200, answer.text
    return {vm["id"]: vm for vm in answer.json()["vms"]}


def cli(*args: str, subprocess_: bool = False) -> tuple[int, str]:
    """`vm-registry <args>`: in this process (fast, the same code path) or as a subprocess."""
    if subprocess_:
        done = subprocess.run(
            [sys.executable, "-m", "vm_registry.cli.main", *args],
            capture_output=True,
            timeout=120,
        )
        return done.returncode, (done.stdout + done.stderr).decode(errors="replace")
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    err = io.StringIO()
    with _CLI_TURN, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    out.flush()
    return code, raw.getvalue().decode() + err.getvalue()


def verify(db: Path, *, subprocess_: bool = False) -> str:
    code, output = cli("verify", "--db", backend.target(db), subprocess_=subprocess_)
    assert code == 0, f"vm-registry verify failed on {db}:\n{output}"
    return output


def replay(db: Path, *, subprocess_: bool = False) -> dict[str, dict[str, Any]]:
    code, output = cli(
        "replay", "--db", backend.target(db), "--format", "json", subprocess_=subprocess_
    )
    assert code == 0, f"vm-registry replay failed on {db}:\n{output}"
    line = next(text for text in output.splitlines() if text.startswith("{"))
    return {vm["id"]: vm for vm in orjson.loads(line)["vms"]}


def comparable(vms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # `stale` is judged against the clock by the server and from the log by replay; nothing in
    # these tests lives long enough to go stale, so every other field must match exactly.
    return {vm_id: {k: v for k, v in vm.items() if k != "stale"} for vm_id, vm in vms.items()}


def assert_gap_free(events: list[dict[str, Any]]) -> None:
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1)), "the log's seq has a gap or a repeat"


def assert_lifecycles(events: list[dict[str, Any]]) -> None:
    """No event contradicts another: a VM is registered only while absent, and changed or
    deregistered only while present."""
    present: set[str] = set()
    for event in events:
        vm_id, kind = event["vmId"], event["type"]
        if kind == REGISTERED:
            assert vm_id not in present, f"seq {event['seq']}: {vm_id} registered twice"
            present.add(vm_id)
        else:
            assert vm_id in present, f"seq {event['seq']}: {kind} for absent {vm_id}"
            if kind == DEREGISTERED:
                present.discard(vm_id)


def assert_ledger_holds(
    ledger: Ledger, events: list[dict[str, Any]], vms: dict[str, dict[str, Any]]
) -> None:
    """Every acknowledged write is in the log where the server said; every other event of the
    writers' VMs was in flight when the server died; and each VM's state is what its last
    acknowledged write made it, unless a later unacknowledged write landed."""
    by_seq = {event["seq"]: event for event in events}
    for ack in ledger.acks:
        event = by_seq.get(ack.seq)
        assert event is not None, f"acknowledged {ack} is missing from the log"
        assert (event["type"], event["vmId"]) == (ack.type, ack.vm_id), (
            f"acknowledged {ack} but the log has {event['type']} {event['vmId']} there"
        )
    acked = {ack.seq for ack in ledger.acks}
    in_flight = Counter((write.type, write.vm_id) for write in ledger.unknown)
    for event in events:
        if event["seq"] in acked:
            continue
        key = (event["type"], event["vmId"])
        assert in_flight[key] > 0, f"event {event} was never asked for"
        in_flight[key] -= 1
    last_event = {event["vmId"]: event for event in events}
    last_ack = {ack.vm_id: ack for ack in sorted(ledger.acks, key=lambda a: a.seq or 0)}
    names: dict[str, str] = {}
    for ack in sorted(ledger.acks, key=lambda a: a.seq or 0):
        if ack.name is not None:
            names[ack.vm_id] = ack.name
    for vm_id, ack in last_ack.items():
        if last_event[vm_id]["seq"] != ack.seq:
            continue  # a later write, in flight at the kill, landed after it
        if ack.type == DEREGISTERED:
            assert vm_id not in vms, f"{vm_id} was deregistered (seq {ack.seq}) but is listed"
        else:
            assert vm_id in vms, f"{vm_id} is missing; its last acknowledged write was {ack}"
            assert vms[vm_id]["revision"] == ack.seq
            assert vms[vm_id]["name"] == names[vm_id]
